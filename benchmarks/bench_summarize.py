"""Summarizing: what the stage costs over calling the LLM directly on the same prompts. Prints ratios
measured in one run.

    python benchmarks/bench_summarize.py [--backend transformers] [--model tiny|DIR] [--minutes 10] [--videos 1]
    VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=1 \\
        .venv-vllm/bin/python benchmarks/bench_summarize.py --backend vllm [--videos 20]
    python benchmarks/bench_summarize.py --backend vllm --model llama-2-7b-size --device cuda --videos 50   # a GPU

The clips are VidLA's three scales planned (curate.text) on espeak-ng speech of a `--minutes` video,
repeated under `--videos` ids (more work against the stage's fixed cost of starting a pipeline and
loading the model, large next to one video's prompts with vLLM), each clip of each copy with its
texts' words shuffled (prompts of the same lengths that vLLM's prefix cache cannot answer from another
clip's); each
clip gets frame captions (a fixed rotation of caption-like sentences) so that both kinds of summary
are asked for. Prompts
answered per second by
  direct  - the bare backend on prompt token ids built beforehand (the baseline): transformers
            generate in batches of the same size in the order of the prompts, vLLM one generate call
            from an empty prefix cache, as the stage's freshly loaded engine starts (the `--videos`
            copies of one video's prompts still hit it within a call, in both),
  path    - the stage's functions without Beam: summary_jobs, the summarizer on all prompts at once
            (transformers: sorted by length into batches), clean_summary, attach,
  stage   - SummarizeClips in a Beam pipeline (DirectRunner): everything, less the model load, less
            Beam's own start/teardown (an identity pipeline over the same input), and less its fixed
            cost (the same stage over one clip: start, model load, the first model call, teardown).
Tokenizing the prompts is work of the stage that the baseline does not do. It is timed alone and,
for vLLM, printed with the bound it sets where it runs in series with the model (the engine in this
process, as VLLM_ENABLE_V1_MULTIPROCESSING=0 runs vllm-cpu here). With the engine in its own process
(vLLM's default, on a GPU) the stage tokenizes while the engine runs
(curate.models.summarize.PromptsTokenizedOnRead).
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), os.path.join(ROOT, "benchmarks")]

CAPTIONS = (
    "a man is cooking fish in the kitchen",
    "a woman is walking near the river",
    "two dogs are running on the beach",
    "a child is riding a bike on the road",
    "a close up of a plate of food on a table",
    "a group of people standing in a park",
)


def clips_with_captions(minutes: float, num_videos: int = 1, saved: str | None = None) -> list:
    """[(video id, clips)]: one planned video's clips with frame captions (those of
    `save_clips(saved, ...)` where given), under `num_videos` ids."""
    from schemas import clip_key

    if saved:
        with open(saved, "rb") as f:
            clips = pickle.load(f)
    else:
        clips = planned_clips_with_captions(minutes)
    videos = []
    for v in range(num_videos):
        video_id = f"sumvid{v}"
        videos.append(
            (
                video_id,
                tuple(
                    _variant(c, v * len(clips) + i)._replace(
                        video_id=video_id, key=clip_key(video_id, c.scale, c.index)
                    )
                    for i, c in enumerate(clips)
                ),
            )
        )
    return videos


def _variant(clip, n: int):
    """The clip with each text's words shuffled by seed n (n differs for every clip of every copy):
    prompts of the same lengths that differ between clips and copies. Repeated prompts would let
    vLLM's prefix cache answer from the first one; real clips share only the prompt template."""
    import random

    shuffle = random.Random(n).shuffle

    def shuffled(text: str) -> str:
        words = text.split()
        shuffle(words)
        return " ".join(words)

    return clip._replace(subtitle=shuffled(clip.subtitle), frame_captions=tuple(map(shuffled, clip.frame_captions)))


def save_clips(path: str, minutes: float) -> None:
    """One video's clips with frame captions, planned here (espeak-ng), for a machine without espeak-ng
    (``--clips``)."""
    with open(path, "wb") as f:
        pickle.dump(planned_clips_with_captions(minutes), f)


def planned_clips_with_captions(minutes: float) -> list:
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
    return clips


def make_llama_size(
    out_dir: str,
    device: str,
    *,
    hidden_size: int = 4096,
    intermediate_size: int = 11008,
    num_layers: int = 32,
    num_heads: int = 32,
) -> str:
    """Random weights at Llama-2-7B's sizes (the tests' word-level tokenizer and chat template),
    initialised on `device` in bfloat16: GPU throughput without downloading weights."""
    import torch
    from factories.models import LLAMA_CHAT_TEMPLATE, _silence_special_rows, _word_level_tokenizer, special_ids
    from transformers import LlamaConfig, LlamaForCausalLM

    from curate.models.config import torch_device_and_dtype

    tokenizer = _word_level_tokenizer(
        extra_special=("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"), chat_template=LLAMA_CHAT_TEMPLATE
    )
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype="bfloat16",
    )
    torch.manual_seed(0)
    with torch.device(torch_device_and_dtype(device, "auto")[0]):
        model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    _silence_special_rows(model.lm_head.weight, special_ids(tokenizer), answer="words", eos_id=tokenizer.eos_token_id)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("transformers", "vllm"), default="transformers")
    parser.add_argument(
        "--model",
        default="tiny",
        help="tiny (the tests' Llama), llama-2-7b-size (random weights, built on the device), "
        "or a checkpoint directory",
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--videos", type=int, default=1, help="that many videos with the same clips, in one bundle")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="transformers: prompts per forward pass (default: by device); vLLM takes them all",
    )
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--clips", help="one video's clips saved with --save-clips, instead of planning them here")
    parser.add_argument("--save-clips", metavar="PATH", help="save the planned clips to PATH (for --clips) and stop")
    args = parser.parse_args(argv)
    if args.save_clips:
        save_clips(args.save_clips, args.minutes)
        return 0

    from bench_caption import best_times, print_figures, run_pipeline
    from factories.models import make_tiny_llama

    from curate.beam.models import SummarizeClips
    from curate.errors import StageError
    from curate.models.config import AnnotateConfig
    from curate.models.summarize import (
        SUMMARIZED_SCALES,
        attach_summaries,
        clean_summary,
        load_summarizer,
        prompt_token_ids,
        summary_jobs,
    )
    from curate.output.write import StagedVideo, replace_clips

    work = tempfile.mkdtemp(prefix="bench-summarize-")
    if args.model == "tiny":
        model_dir = make_tiny_llama(os.path.join(work, "llama"), max_positions=2048)
    elif args.model == "llama-2-7b-size":
        model_dir = make_llama_size(os.path.join(work, "llama-2-7b-size"), args.device)
    else:
        model_dir = args.model
    videos = clips_with_captions(args.minutes, args.videos, args.clips)
    config = AnnotateConfig(
        summary_model=model_dir,
        summary_backend=args.backend,
        summary_batch_size=args.batch_size,
        summary_max_new_tokens=args.max_new_tokens,
        device=args.device,
        # two engines share the GPU: the baseline's and the one the stage loads
        vllm_gpu_memory_utilization=0.4,
        vllm_max_model_len=2048,
        vllm_enforce_eager=True,
    )
    jobs = [
        (video_id, key, field, prompt)
        for video_id, clips in videos
        for key, field, prompt in summary_jobs(clips, config.summary_max_words)
    ]

    start = time.perf_counter()
    summarizer = load_summarizer(config)
    load_s = time.perf_counter() - start
    batch_size = args.batch_size or getattr(summarizer, "batch_size", len(jobs))  # vLLM: one call
    batches = (
        "all in one call"
        if args.backend == "vllm"
        else f"batch {batch_size}{'' if args.batch_size else ' (the device default)'}"
    )
    print(
        f"{len(videos)} x {len(videos[0][1])} clips of {args.minutes:g} video-minutes -> {len(jobs)} prompts; "
        f"backend {args.backend}, "
        f"{batches}, max_new_tokens {args.max_new_tokens}"
    )
    prompts = [prompt for _, _, _, prompt in jobs]
    token_ids = [prompt_token_ids(summarizer.tokenizer, p) for p in prompts]

    if args.backend == "vllm":
        # the stage's engine is loaded afresh: the baseline must not answer from an earlier call's cache
        empty_cache = summarizer.llm.reset_prefix_cache

        def direct():
            empty_cache()
            return [
                o.outputs[0].text
                for o in summarizer.llm.generate(
                    [{"prompt_token_ids": ids} for ids in token_ids], summarizer.sampling_params, use_tqdm=False
                )
            ]
    else:
        import torch

        model, pad = summarizer.model, summarizer.tokenizer.pad_token_id

        def empty_cache():  # transformers keeps no cache between calls
            pass

        def direct():
            out = []
            for i in range(0, len(token_ids), batch_size):  # in the order of the prompts
                batch = token_ids[i : i + batch_size]
                width = max(len(ids) for ids in batch)
                input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=model.device)
                mask = torch.arange(width)[None, :] >= torch.tensor([width - len(ids) for ids in batch])[:, None]
                with torch.inference_mode():
                    gen = model.generate(
                        input_ids=input_ids,
                        attention_mask=mask.long().to(model.device),
                        max_new_tokens=args.max_new_tokens,
                        do_sample=False,
                        pad_token_id=pad,
                    )
                out += summarizer.tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
            return out

    def path():
        # the handler gets the bundle's prompts (here: every video's) in one call (SummaryHandler)
        answers = {video_id: [] for video_id, _ in videos}
        empty_cache()
        for (video_id, key, field, _), raw in zip(jobs, summarizer.summarize(prompts)):
            try:
                answers[video_id].append((key, field, clean_summary(raw, config.summary_max_words), None))
            except StageError as exc:
                answers[video_id].append((key, field, None, (exc.reason, exc.detail)))
        return [attach_summaries(video_id, clips, answers[video_id]) for video_id, clips in videos]

    same = [a.strip() for a in summarizer.summarize(prompts)] == [a.strip() for a in direct()]  # and warm-up
    kept = sum(len(k) for k, _ in path())
    failed = sum(len(f) for _, f in path())
    elements = [StagedVideo(video_id, clips, (0,) * len(clips)) for video_id, clips in videos]  # SummarizeClips' input
    loads = []
    first_summarized = next(c for c in elements[0].clips if c.scale in SUMMARIZED_SCALES)
    fns = {
        "direct": direct,
        "path": path,
        "tokenize": lambda: [prompt_token_ids(summarizer.tokenizer, p) for p in prompts],
        "stage": lambda: loads.append(run_pipeline(elements, SummarizeClips(config), "summarize")),
        "floor": lambda: run_pipeline(elements),
        # one clip: the first call of a freshly loaded model (cold for vLLM) is part of the fixed cost
        "fixed": lambda: run_pipeline(
            [replace_clips(elements[0], [first_summarized])], SummarizeClips(config), "summarize"
        ),
    }
    best = best_times(fns, args.repeats)
    print(
        f"  model load (not in direct/path): {load_s:.2f} s; clips kept {kept}, failed {failed}; "
        f"answers of the stage's summarizer = the bare backend's: {same}"
    )
    print_figures("prompts", len(jobs), best, loads)
    direct_s, tokenize_s = best["direct"][0], best["tokenize"][0]
    # vLLM does the same model work in direct and stage; transformers' stage pads less (sorted batches)
    bound = (
        f"; in series with the model the stage's prompts/s is at most {direct_s / (direct_s + tokenize_s):.2f} "
        f"of direct"
        if args.backend == "vllm"
        else ""
    )
    print(
        f"  tokenizing the prompts alone (in path and stage, not in direct): {tokenize_s:.3f} s wall = "
        f"{tokenize_s / direct_s:.2f} of direct{bound}"
    )
    return 0


if __name__ == "__main__":  # vLLM may spawn workers: keep the guard
    sys.exit(main())
