"""Summarizing: what the stage costs over calling the LLM directly on the same prompts. Prints ratios
measured in one run.

    python benchmarks/bench_summarize.py [--backend transformers] [--model tiny|DIR] [--minutes 10]
    VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=1 \\
        .venv-vllm/bin/python benchmarks/bench_summarize.py --backend vllm

The clips are VidLA's three scales planned (curate.text) on espeak-ng speech of a `--minutes` video;
each gets frame captions (a fixed rotation of caption-like sentences) so that both kinds of summary
are asked for. Prompts answered per second by
  direct  - the backend's own call on prompts built beforehand, in the same batches (the baseline),
  path    - the stage's functions without Beam: summary_jobs, the summarizer, clean_summary, attach,
  stage   - SummarizeClips in a Beam pipeline (DirectRunner): everything, less the model load, and
            less Beam's own start/teardown (an identity pipeline over the same input).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "models"), os.path.join(ROOT, "benchmarks")]

CAPTIONS = ("a man is cooking fish in the kitchen", "a woman is walking near the river",
            "two dogs are running on the beach", "a child is riding a bike on the road",
            "a close up of a plate of food on a table", "a group of people standing in a park")


def clips_with_captions(minutes: float):
    from bench_caption import planned_clips
    from curate.text.transcripts import clip_from_span
    from schemas import Transcript, VideoMeta

    spans, duration = planned_clips("sumvid", minutes, seed=7)
    meta = VideoMeta("sumvid", "file://sumvid.mp4", duration=duration)
    transcript = Transcript("sumvid", (), "benchmark", True)
    clips = []
    for i, span in enumerate(spans):
        n = max(1, int(span.duration // 10))
        captions = tuple(CAPTIONS[(i + k) % len(CAPTIONS)] for k in range(n))
        clips.append(clip_from_span(span, meta, transcript)._replace(frame_captions=captions))
    return meta, tuple(clips)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("transformers", "vllm"), default="transformers")
    parser.add_argument("--model", default="tiny", help="tiny (the tests' Llama) or a checkpoint directory")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)

    from bench_caption import best_times, print_figures, run_pipeline
    from curate.models.config import AnnotateConfig
    from curate.beam.models import SummarizeClips
    from curate.output.write import StagedVideo
    from curate.models.summarize import attach_summaries, clean_summary, load_summarizer, prompt_token_ids, summary_jobs
    from curate.errors import StageError
    from tiny_models import make_tiny_llama

    work = tempfile.mkdtemp(prefix="bench-summarize-")
    model_dir = make_tiny_llama(os.path.join(work, "llama"), max_positions=2048) if args.model == "tiny" else args.model
    meta, clips = clips_with_captions(args.minutes)
    config = AnnotateConfig(summary_model=model_dir, summary_backend=args.backend, summary_batch_size=args.batch_size,
                            summary_max_new_tokens=args.max_new_tokens, device=args.device,
                            vllm_gpu_memory_utilization=0.5, vllm_max_model_len=2048, vllm_enforce_eager=True)
    jobs = summary_jobs(clips, config.summary_max_words)
    print(f"{len(clips)} clips of {args.minutes:g} video-minutes -> {len(jobs)} prompts; backend {args.backend}, "
          f"batch {args.batch_size}, max_new_tokens {args.max_new_tokens}")

    start = time.perf_counter()
    summarizer = load_summarizer(config)
    load_s = time.perf_counter() - start
    prompts = [prompt for _, _, prompt in jobs]
    token_ids = [prompt_token_ids(summarizer.tokenizer, p) for p in prompts]

    if args.backend == "vllm":
        def direct():
            return [o.outputs[0].text for o in summarizer.llm.generate(
                [{"prompt_token_ids": ids} for ids in token_ids], summarizer.sampling_params, use_tqdm=False)]
    else:
        import torch

        model, pad = summarizer.model, summarizer.tokenizer.pad_token_id

        def direct():
            out = []
            for i in range(0, len(token_ids), args.batch_size):
                batch = token_ids[i:i + args.batch_size]
                width = max(len(ids) for ids in batch)
                input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=model.device)
                mask = (torch.arange(width)[None, :] >= torch.tensor([width - len(ids) for ids in batch])[:, None])
                with torch.inference_mode():
                    gen = model.generate(input_ids=input_ids, attention_mask=mask.long().to(model.device),
                                         max_new_tokens=args.max_new_tokens, do_sample=False, pad_token_id=pad)
                out += summarizer.tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
            return out

    def path():
        answers = []
        for i in range(0, len(jobs), args.batch_size):
            batch = jobs[i:i + args.batch_size]
            for (key, field, _), raw in zip(batch, summarizer.summarize([p for _, _, p in batch])):
                try:
                    answers.append((key, field, clean_summary(raw, config.summary_max_words), None))
                except StageError as exc:
                    answers.append((key, field, None, (exc.reason, exc.detail)))
        return attach_summaries(meta.video_id, clips, answers)

    direct()  # warm-up
    kept, failures = path()
    elements, loads = [StagedVideo(meta.video_id, tuple(clips), (0,) * len(clips))], []  # what SummarizeClips takes
    fns = {"direct": direct, "path": path,
           "stage": lambda: loads.append(run_pipeline(elements, SummarizeClips(config), "summarize")),
           "floor": lambda: run_pipeline(elements)}
    best = best_times(fns, args.repeats)
    print(f"  model load (not in direct/path): {load_s:.2f} s; clips kept {len(kept)}, failed {len(failures)}")
    print_figures("prompts", len(jobs), best, loads)
    return 0


if __name__ == "__main__":  # vLLM may spawn workers: keep the guard
    sys.exit(main())
