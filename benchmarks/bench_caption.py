"""Frame captioning: how many captioner calls frame reuse saves, and what the stage costs over calling
BLIP-2 directly. Prints ratios measured in one run.

    python benchmarks/bench_caption.py calls [--videos 3 --minutes 10]
    python benchmarks/bench_caption.py throughput [--model tiny|blip2-opt-2.7b-size|DIR] [--device cpu|cuda]

calls: VidLA clips of all three scales are planned (curate.text, on real espeak-ng speech timings) for
10-minute videos; captioner calls per video-minute at 0.1 FPS with the per-video grid and reuse
(curate.media.frames) against naive sampling of every clip on its own, at the same rate.

throughput: distinct frames captioned per second by
  direct  - Blip2Processor + model.generate on frames decoded beforehand (the CPU goal's baseline),
  bare    - model.generate on pixel_values made beforehand, on the device (the GPU goal's baseline),
  decode  - decoding alone (curate.media.frames.iter_frames at the captioner's input size), no model,
  path    - the stage's own functions without Beam: plan, decode (PyAV, prefetched in a thread),
            Blip2Captioner on the handler's calls (tensor preprocessing on the device), attach,
  stage   - decode (as in CutAndDecodeFrames, without the cut) + CaptionClipFrames in a Beam pipeline
            (DirectRunner): everything, less the model load, less Beam's own start/teardown (an
            identity pipeline over the same input), and less its fixed cost (the same stage over
            one frame: start, model load, the first model call, teardown),
and their ratios to direct. "blip2-opt-2.7b-size" is a randomly initialised BLIP-2 with the layer sizes
of Salesforce/blip2-opt-2.7b (ViT-g/14, Q-Former, OPT-2.7B; a small word-level vocabulary), built on the
device: meaningful GPU throughput without downloading weights.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "models")]

SCALE_WINDOWS = {"short": 13.0, "medium": 30.0, "long": 60.0}


# ---------------------------------------------------------------------------------------------
# captioner calls per video-minute


def planned_clips(video_id: str, minutes: float, seed: int):
    """VidLA clip spans of every scale over real espeak-ng speech of about `minutes` minutes."""
    from curate.samples import sentences_for, synthesize_speech
    from curate.text import plan_clips, vidla_recipe
    from schemas import Sentence

    _, truth = synthesize_speech(sentences_for(minutes * 60, seed))
    sentences = [Sentence(s.text, s.start, s.end, len(s.text.split())) for s in truth]
    duration = truth[-1].end + 0.5
    return plan_clips(video_id, sentences, duration, vidla_recipe()), duration


def bench_calls(args) -> None:
    from curate.media.frames import clip_frame_times, plan_frames

    reuse = naive = 0
    minutes = 0.0
    per_scale = {}
    for i in range(args.videos):
        spans, duration = planned_clips(f"bench{i}", args.minutes, seed=100 + i)
        minutes += duration / 60
        reuse += len(plan_frames(spans, args.fps).times)
        for span in spans:
            # naive: every clip sampled on its own grid, starting at its own start
            n = len(clip_frame_times(0.0, span.end - span.start, args.fps))
            naive += n
            count, frames = per_scale.get(span.scale, (0, 0))
            per_scale[span.scale] = (count + 1, frames + n)
    print(f"captioner calls at {args.fps} FPS over {args.videos} videos, {minutes:.1f} video-minutes, "
          f"clips per scale: " + ", ".join(f"{s} {c}" for s, (c, _) in sorted(per_scale.items())))
    print(f"  naive per-clip sampling : {naive / minutes:7.2f} calls / video-minute")
    print(f"  per-video grid, reused  : {reuse / minutes:7.2f} calls / video-minute")
    print(f"  ratio naive / reuse     : {naive / reuse:7.2f}x fewer captioner calls with reuse")
    for scale, (count, frames) in sorted(per_scale.items()):
        print(f"    {scale:6s} alone (naive): {frames / minutes:6.2f} calls / video-minute")


# ---------------------------------------------------------------------------------------------
# throughput


def build_model(name: str, device: str, work: str) -> str:
    from tiny_models import make_tiny_blip2

    if name == "tiny":
        return make_tiny_blip2(os.path.join(work, "blip2-tiny"))
    if name == "blip2-opt-2.7b-size":
        return make_blip2_opt27_size(os.path.join(work, "blip2-opt-2.7b-size"), device)
    return name


def make_blip2_opt27_size(out_dir: str, device: str) -> str:
    """Random weights at Salesforce/blip2-opt-2.7b's sizes, initialised on `device` in bfloat16."""
    import torch
    from transformers import (Blip2Config, Blip2ForConditionalGeneration, Blip2Processor,
                              Blip2QFormerConfig, Blip2VisionConfig, OPTConfig)

    from tiny_models import _image_processor, _silence_special_rows, _word_level_tokenizer, special_ids

    tokenizer = _word_level_tokenizer(extra_special=("<image>",))
    vision = Blip2VisionConfig(hidden_size=1408, intermediate_size=6144, num_hidden_layers=39, num_attention_heads=16,
                               image_size=224, patch_size=14)
    qformer = Blip2QFormerConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                 encoder_hidden_size=1408, vocab_size=len(tokenizer))
    text = OPTConfig(vocab_size=len(tokenizer), hidden_size=2560, ffn_dim=10240, num_hidden_layers=32,
                     num_attention_heads=32, word_embed_proj_dim=2560, max_position_embeddings=2048,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    config = Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(), text_config=text.to_dict(),
                         num_query_tokens=32, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(0)
    with torch.device(device):
        model = Blip2ForConditionalGeneration(config).to(torch.bfloat16).eval()
    _silence_special_rows(model.get_output_embeddings().weight, special_ids(tokenizer), answer="words",
                          eos_id=tokenizer.eos_token_id)
    model.save_pretrained(out_dir)
    Blip2Processor(image_processor=_image_processor(224), tokenizer=tokenizer, num_query_tokens=32).save_pretrained(out_dir)
    return out_dir


def sample_clips(video_id: str, duration: float):
    """Windows of the three VidLA scales over the whole video (throughput does not need sentences)."""
    from schemas import Clip, clip_key

    clips = []
    for scale, length in SCALE_WINDOWS.items():
        start, index = 0.0, 0
        while start < duration - 1.0:
            end = min(start + length, duration)
            clips.append(Clip(clip_key(video_id, scale, index), video_id, scale, index, start, end, end - start,
                              "", (), 0))
            start, index = end, index + 1
    return tuple(clips)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def bench_throughput(args) -> None:
    import torch

    from curate.beam.models import CAPTION_FRAMES_PER_CALL
    from curate.media.frames import attach_frame_captions, decode_frames, iter_frames, plan_frames, prefetch
    from curate.models.caption import Blip2Captioner, captioner_input_size
    from curate.models.config import AnnotateConfig, torch_device_and_dtype
    from schemas import VideoMeta

    work = tempfile.mkdtemp(prefix="bench-caption-")
    device, dtype = torch_device_and_dtype(args.device, args.dtype)
    videos = args.video or [make_video(work, args.seconds)]
    model_dir = build_model(args.model, device, work)
    config = AnnotateConfig(caption_model=model_dir, caption_fps=args.fps, caption_batch_size=args.batch_size,
                            caption_max_new_tokens=args.max_new_tokens, device=device, dtype=args.dtype)
    size = captioner_input_size(model_dir)
    elements = []
    for i, path in enumerate(videos):
        import av

        with av.open(path) as c:
            duration = float(c.duration / 1e6)
        elements.append((VideoMeta(f"v{i}", "file://" + path, duration=duration, media_path=path),
                         sample_clips(f"v{i}", duration)))
    plans = [plan_frames(clips, args.fps) for _, clips in elements]
    num_frames = sum(len(p.times) for p in plans)

    start = time.perf_counter()
    captioner = Blip2Captioner.load(model_dir, device=device, dtype=args.dtype, max_new_tokens=args.max_new_tokens,
                                    batch_size=args.batch_size)
    load_s = time.perf_counter() - start
    batch_size = captioner.batch_size  # --batch-size, else the device's default
    print(f"{len(videos)} videos, {sum(m.duration for m, _ in elements):.0f} s, {num_frames} distinct frames at "
          f"{args.fps} FPS for {sum(len(c) for _, c in elements)} clips; model {args.model}, {device} {dtype}, "
          f"batch {batch_size}{'' if args.batch_size else ' (the device default)'}, "
          f"max_new_tokens {args.max_new_tokens}")
    frames = [f for (meta, _), plan in zip(elements, plans) for _, f in decode_frames(meta.media_path, plan.times, size)]
    assert all(not isinstance(f, str) for f in frames)
    model, processor = captioner.model, captioner.processor
    ready = [processor(images=frames[i:i + batch_size], return_tensors="pt")["pixel_values"].to(device, dtype)
             for i in range(0, len(frames), batch_size)]

    def generate(pixel_values):
        with torch.inference_mode():
            ids = model.generate(pixel_values=pixel_values, max_new_tokens=args.max_new_tokens, num_beams=1,
                                 do_sample=False)
        return processor.batch_decode(ids, skip_special_tokens=True)

    def direct():
        out = []
        for i in range(0, len(frames), batch_size):
            inputs = processor(images=frames[i:i + batch_size], return_tensors="pt")
            out += generate(inputs["pixel_values"].to(model.device, model.dtype))
        sync(device)
        return out

    def bare():
        out = [c for pixel_values in ready for c in generate(pixel_values)]
        sync(device)
        return out

    def decode():
        return [f for (meta, _), plan in zip(elements, plans) for f in iter_frames(meta.media_path, plan.times, size)]

    def path():
        # what the stage does per video, without Beam: stream decoded frames, caption them in the
        # handler's calls, attach
        out = []
        for (meta, clips), plan in zip(elements, plans):
            captions, batch = {}, []
            for t, frame in prefetch(iter_frames(meta.media_path, plan.times, size), CAPTION_FRAMES_PER_CALL):
                batch.append((t, frame))
                if len(batch) == CAPTION_FRAMES_PER_CALL:
                    captions.update(zip([t for t, _ in batch], captioner.caption([f for _, f in batch])))
                    batch = []
            if batch:
                captions.update(zip([t for t, _ in batch], captioner.caption([f for _, f in batch])))
            out.append(attach_frame_captions(meta.video_id, clips, plan, captions, {}))
        sync(device)
        return out

    same = captioner.caption(frames) == [c.strip() for c in direct()]
    fns, loads = {"direct": direct, "bare": bare, "decode": decode, "path": path}, []
    if importlib.util.find_spec("apache_beam") is not None:
        fns["stage"] = lambda: loads.append(run_pipeline(elements, _decode_and_caption(config, size), "caption"))
        fns["floor"] = lambda: run_pipeline(elements)
        # one frame: the first model call of a freshly loaded model is part of its fixed cost
        meta, clips = elements[0]
        one_frame = [(meta, (clips[0]._replace(end=clips[0].start + 0.5 / args.fps),))]
        fns["fixed"] = lambda: run_pipeline(one_frame, _decode_and_caption(config, size), "caption")
    best = best_times(fns, args.repeats)
    print(f"  model load (not in direct/path): {load_s:.2f} s; path = decode + captioner + attach; "
          f"captions of the stage's preprocessing = the processor's: {same}")
    print_figures("frames", num_frames, best, loads)


def _decode_and_caption(config, size):
    """The recipe's decode (in CutAndDecodeFrames, without its ffmpeg cut) + CaptionClipFrames."""
    import apache_beam as beam

    from curate.beam.models import FRAME_ERRORS, FRAMES, CaptionClipFrames, _CutAndDecode
    from curate.output.write import StagedVideo

    class DecodeOnly(_CutAndDecode):
        def process(self, element):
            meta, clips = element
            staged = StagedVideo(meta.video_id, tuple(clips), (0,) * len(clips))
            yield staged
            yield from self.after_cut(meta, staged)

    class DecodeAndCaption(beam.PTransform):
        def expand(self, videos):
            decoded = videos | beam.ParDo(DecodeOnly(None, None, None, config.caption_fps, size)).with_outputs(
                FRAMES, FRAME_ERRORS, main="staged")
            captioned, _ = (decoded.staged, decoded[FRAMES], decoded[FRAME_ERRORS]) | CaptionClipFrames(config)
            return captioned

    return DecodeAndCaption()


def best_times(fns: dict, repeats: int) -> dict:
    """Each function's best wall time and best CPU time of this process (all its threads) over
    `repeats` rounds, the functions interleaved in each round. The machine may be shared: CPU time
    is what the work itself cost, whatever else ran beside it."""
    best = {name: [float("inf"), float("inf")] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    return best


def run_pipeline(elements, transform=None, namespace: str = "") -> float:
    """Run `transform` over `elements` in a Beam pipeline (an identity step when None); returns the
    seconds the model load took inside it (RunInference's own metric). The elements are read from a
    pickle inside the pipeline: beam.Create would pickle and bz2-compress them into the pipeline
    graph, a cost of the benchmark's input (a second per MB of clips) that a real source does not have."""
    import pickle

    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.testing.test_pipeline import TestPipeline

    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as f:
        pickle.dump(list(elements), f)
    try:
        p = TestPipeline()
        pcoll = p | beam.Create([f.name]) | beam.FlatMap(_load_pickle)
        _ = pcoll | (transform if transform is not None else beam.Map(lambda x: x))
        result = p.run()
        result.wait_until_finish()
    finally:
        os.remove(f.name)
    if transform is None:
        return 0.0
    loads = result.metrics().query(MetricsFilter().with_namespace(namespace).with_name(
        "load_model_latency_milli_secs"))["distributions"]
    return sum(d.committed.sum for d in loads) / 1000


def _load_pickle(path: str) -> list:
    import pickle

    with open(path, "rb") as f:
        return pickle.load(f)


def print_figures(unit: str, count: int, best: dict, loads: list) -> None:
    """Rates and ratios to "direct" (and to "bare", when timed) of every timed function, by wall time
    and by CPU time; "stage" also less its model load (wall only: RunInference times the load by the
    clock), less an identity pipeline ("floor": Beam's own start and teardown), and less its fixed
    cost ("fixed": the same pipeline over a single item of work: start, load, first call, teardown)."""
    rows = [("direct model calls", best["direct"])]
    if "bare" in best:
        rows.append(("bare model, ready tensors", best["bare"]))
    if "decode" in best:
        rows.append(("decode alone (no model)", best["decode"]))
    rows.append(("stage functions, no Beam", best["path"]))
    if "stage" in best:
        load = min(loads)
        stage, floor = best["stage"], best["floor"]
        rows += [("Beam stage, everything", stage),
                 ("Beam stage, less model load", [stage[0] - load, None]),
                 ("  and less Beam start/teardown", [stage[0] - load - floor[0], None])]
        print(f"  (in the stage: model load {load:.2f} s, empty pipeline {floor[0]:.2f} s wall)")
        if "fixed" in best:
            fixed = best["fixed"]
            rows.append(("Beam stage less its fixed cost", [stage[0] - fixed[0], stage[1] - fixed[1]]))
            print(f"  (fixed cost: the same pipeline over a single item of work, {fixed[0]:.2f} s wall, "
                  f"{fixed[1]:.2f} s CPU: pipeline start, model load, the model's first call, teardown)")
    baselines = [name for name in ("direct", "bare") if name in best]
    header = "".join(f" {'of ' + b:>9s}" for b in baselines)
    print(f"  {'':30s}  {unit + '/s wall':>14s}{header}   {unit + '/s CPU':>14s}{header}")
    for name, (wall, cpu) in rows:
        walls = "".join(f" {best[b][0] / wall:9.2f}" for b in baselines)
        if cpu is None:
            cpus = f"{'-':>14s}" + "".join(f" {'-':>9s}" for _ in baselines)
        else:
            cpus = f"{count / cpu:14.2f}" + "".join(f" {best[b][1] / cpu:9.2f}" for b in baselines)
        print(f"  {name:30s}: {count / wall:14.2f}{walls}   {cpus}")
    if "stage" not in best:
        print(f"  {'Beam stage':30s}: skipped (apache_beam is not installed here)")
    elif "decode" in best:
        # decoding can overlap the model (another core, the GPU), never beat the slower of the two
        bound = max(best["decode"][0], best["direct"][0])
        print(f"  the stage can at best run at the pace of the slower of decoder and model: {count / bound:.2f} "
              f"{unit}/s wall, {best['direct'][0] / bound:.2f} of direct; Beam stage less model load reaches "
              f"{bound / (stage[0] - load):.2f} of that bound")


def make_video(work: str, seconds: float) -> str:
    from curate.samples import make_sample_video, sentences_for

    return make_sample_video(work, "benchvid", sentences_for(seconds, 1), min_duration=seconds).media_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    calls = sub.add_parser("calls", help="captioner calls per video-minute, reuse vs naive")
    calls.add_argument("--videos", type=int, default=3)
    calls.add_argument("--minutes", type=float, default=10.0)
    calls.add_argument("--fps", type=float, default=0.1)
    tp = sub.add_parser("throughput", help="frames/s of the stage vs direct model calls")
    tp.add_argument("--model", default="tiny", help="tiny, blip2-opt-2.7b-size, or a checkpoint directory")
    tp.add_argument("--device", default="auto")
    tp.add_argument("--dtype", default="auto")
    tp.add_argument("--video", action="append", help="video file(s); default: one generated video")
    tp.add_argument("--seconds", type=float, default=60.0, help="length of the generated video")
    tp.add_argument("--fps", type=float, default=1.0, help="denser than VidLA's 0.1 to have frames to time")
    tp.add_argument("--batch-size", type=int, default=None, help="frames per forward pass (default: by device)")
    tp.add_argument("--max-new-tokens", type=int, default=20)
    tp.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    bench_calls(args) if args.what == "calls" else bench_throughput(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
