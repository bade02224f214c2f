"""Cutting speed: the pipeline's cut stage (CutClips inside a Beam pipeline: one ffmpeg process per
batch of clips, each clip probed and staged) against bare ffmpeg doing the same cuts with the same
encoder settings, one process per clip in a loop (the physical limit), in copy and re-encode modes.

    python benchmarks/bench_cut.py [--videos 4] [--seconds 45]

The clips are what the vidla recipe plans for generated 1280x720 videos (three overlapping scales).
Prints clips/s of both and their ratio (pipeline / bare; >= 0.85 is the aim).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from curate.media.cut import ClipRequest, CutConfig, clip_ffmpeg_args, probe_media  # noqa: E402
from curate.text import parse_subtitle_file, transcript_to_clips, vidla_recipe  # noqa: E402
from curate.text.transcripts import clip_from_span  # noqa: E402
from samplemedia import make_sample_folder  # noqa: E402
from schemas import VideoMeta  # noqa: E402


def planned_videos(folder: str, samples) -> list:
    """(VideoMeta, tuple[Clip]) per video, as PlanClips makes them."""
    out = []
    for s in samples:
        meta = VideoMeta(
            s.video_id,
            "",
            duration=s.duration,
            height=720,
            media_path=s.media_path,
            subtitle_path=s.subtitle_path,
        )
        transcript = parse_subtitle_file(s.subtitle_path, s.video_id)
        _, spans = transcript_to_clips(transcript, s.duration, vidla_recipe())
        out.append((meta, tuple(clip_from_span(span, meta, transcript) for span in spans)))
    return out


def bare_ffmpeg(videos, config: CutConfig, out_dir: str) -> int:
    """The same cuts, one ffmpeg per clip, nothing else."""
    n = 0
    for meta, clips in videos:
        source = probe_media(meta.media_path)  # once per video, as any cutter must know the size
        for clip in clips:
            args = clip_ffmpeg_args(
                meta.media_path, [ClipRequest(clip.key, clip.start, clip.end)], out_dir, config, source
            )
            subprocess.run(args, check=True, stdin=subprocess.DEVNULL)
            n += 1
    return n


def pipeline_cut(videos, config: CutConfig, out_dir: str) -> int:
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from curate.beam.recipe import CutClips

    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"])) as p:
        staged, _ = p | beam.Create(videos, reshuffle=False) | CutClips(out_dir, config)
    return sum(len(files) - 1 for _, _, files in os.walk(os.path.join(out_dir, ".staging")) if files)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=45.0)
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="bench-cut-")
    try:
        samples = make_sample_folder(os.path.join(work, "videos"), args.videos, seconds=args.seconds, seed=21)
        videos = planned_videos(work, samples)
        num_clips = sum(len(c) for _, c in videos)
        print(f"{args.videos} videos of {args.seconds:.0f} s, 1280x720, {num_clips} clips (vidla scales)")
        configs = [
            ("copy", CutConfig(mode="copy")),
            ("reencode 224", CutConfig(mode="reencode", short_side=224)),
            ("reencode 720p", CutConfig(mode="reencode")),
        ]
        for name, config in configs:
            bare_dir, pipe_dir = os.path.join(work, "bare"), os.path.join(work, "pipe")
            for d in (bare_dir, pipe_dir):
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
            t0 = time.perf_counter()
            n_bare = bare_ffmpeg(videos, config, bare_dir)
            t_bare = time.perf_counter() - t0
            t0 = time.perf_counter()
            n_pipe = pipeline_cut(videos, config, pipe_dir)
            t_pipe = time.perf_counter() - t0
            assert n_bare == n_pipe == num_clips, (n_bare, n_pipe, num_clips)
            bare_rate, pipe_rate = n_bare / t_bare, n_pipe / t_pipe
            print(
                f"{name:14s} bare ffmpeg loop {bare_rate:7.2f} clips/s | pipeline cut stage {pipe_rate:7.2f} "
                f"clips/s | ratio {pipe_rate / bare_rate:.2f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
