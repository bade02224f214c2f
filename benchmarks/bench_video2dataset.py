"""Against video2dataset: the same local videos clipped at the same spans, videos/s of each.

    python benchmarks/bench_video2dataset.py [--videos 12] [--seconds 30]

Ours: the whole ``python -m curate run --recipe hdvila`` (Beam start-up, probe, subtitle parsing,
sentence planning, cut, probe of every clip, shards + sidecars + clips.parquet + stats + report),
timed from the outside. video2dataset 1.3.0 (in its own venv, .venv-v2d): its ClippingSubsampler and
WebDatasetSampleWriter on the bytes of each local file, the per-video work of its DownloadWorker once
the video is downloaded, timed inside its process (interpreter start-up and imports excluded). Its
package __init__ imports torch/torchaudio/decord for other subsamplers, so the two modules it needs are
loaded without it. The spans are the clips our run planned (non-overlapping sentence clips, which is
what video2dataset's segment-muxer clipping accepts).

Modes: copy (ours: keyframe stream copy; video2dataset: precision "low", segment muxer with -c copy)
and exact (ours: re-encode at source resolution with libx264 preset medium, crf 23 = ffmpeg's defaults;
video2dataset: precision "exact", the segment muxer re-encoding with forced keyframes).
Prints videos/s of each and the ratios ours / video2dataset (> 1: we are faster), for our cut + shard
writing alone on the same clips (in-process, the same scope as video2dataset's loop) and for our
whole run (which also pays Beam's start-up, probing, transcript and planning, stats and report).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, REPO)
V2D_PYTHON = os.path.join(REPO, ".venv-v2d", "bin", "python")

from samplemedia import make_sample_folder  # noqa: E402

V2D_SCRIPT = r"""
import importlib, json, os, sys, time, types

import importlib.util

# video2dataset/__init__.py imports every worker (torch, torchaudio, decord): stub the two packages
ROOT = os.path.dirname(importlib.util.find_spec("video2dataset").origin)
for pkg, path in (("video2dataset", ROOT), ("video2dataset.subsamplers", os.path.join(ROOT, "subsamplers"))):
    module = types.ModuleType(pkg)
    module.__path__ = [path]
    sys.modules[pkg] = module


def load(name):
    return importlib.import_module(name)


ClippingSubsampler = load("video2dataset.subsamplers.clipping_subsampler").ClippingSubsampler
WebDatasetSampleWriter = load("video2dataset.data_writer").WebDatasetSampleWriter
import pyarrow as pa

jobs, out_dir, precision = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
schema = pa.schema([("url", pa.string()), ("key", pa.string()), ("status", pa.string()),
                    ("error_message", pa.string())])
clipper = ClippingSubsampler(5, {"video": "mp4"}, precision=precision)
writer = WebDatasetSampleWriter(0, out_dir, True, 5, schema, {"video": "mp4"})
t0 = time.perf_counter()
num_clips = 0
for i, job in enumerate(jobs):
    with open(job["path"], "rb") as f:
        streams = {"video": [f.read()]}
    meta = {"url": job["path"], "key": f"{i:09d}", "status": "success", "error_message": None,
            "clips": job["spans"]}
    clips, metas, error = clipper(streams, meta)
    assert error is None, error
    for clip_bytes, clip_meta in zip(clips["video"], metas):
        writer.write({"video": clip_bytes}, clip_meta["key"], None,
                     {k: clip_meta[k] for k in ("url", "key", "status", "error_message")})
        num_clips += 1
writer.close()
print("V2D", len(jobs), num_clips, time.perf_counter() - t0)
"""


def run_ours(folder: str, out: str, extra: list) -> tuple:
    cmd = [sys.executable, "-m", "curate", "run", "--recipe", "hdvila", "--input", folder, "--output", out, *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    import pyarrow.parquet as pq

    rows = pq.read_table(os.path.join(out, "clips.parquet")).to_pylist()
    return elapsed, rows


def run_v2d(jobs: list, work: str, precision: str) -> tuple:
    jobs_path = os.path.join(work, f"v2d-{precision}.json")
    with open(jobs_path, "w") as f:
        json.dump(jobs, f)
    out = os.path.join(work, f"v2d-{precision}")
    os.makedirs(out)
    done = subprocess.run([V2D_PYTHON, "-c", V2D_SCRIPT, jobs_path, out, precision], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    _, videos, clips, elapsed = next(line for line in done.stdout.splitlines() if line.startswith("V2D")).split()
    return float(elapsed), int(videos), int(clips)


def run_ours_stages(rows: list, paths: dict, out: str, ours_options: list) -> float:
    """Our cut + shard writing on the same clips, in this process (like video2dataset's loop)."""
    from curate.media.cut import CutConfig, cut_video
    from curate.output.write import ShardConfig, pack_shards, write_shard
    from schemas import VideoMeta
    from schemas.arrow import row_to_clip

    options = dict(zip(ours_options[::2], ours_options[1::2]))
    config = CutConfig(
        mode=options["--cut-mode"],
        short_side=int(options.get("--short-side", 0)) or None,
        preset=options.get("--preset", CutConfig.preset),
        crf=int(options.get("--crf", CutConfig.crf)),
    )
    by_video = {}
    for row in rows:
        by_video.setdefault(row["video_id"], []).append(row_to_clip({**row, "shard": ""}))
    t0 = time.perf_counter()
    staged = [
        cut_video(VideoMeta(v, "", media_path=paths[v]), tuple(c), out, config) for v, c in sorted(by_video.items())
    ]
    for name, videos in pack_shards(staged, ShardConfig()):
        write_shard(out, name, videos)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--modes", default="copy,exact", help="comma-separated: copy, exact")
    args = parser.parse_args(argv)
    if not os.path.exists(V2D_PYTHON):
        raise SystemExit(
            "no .venv-v2d: python3 -m venv --system-site-packages .venv-v2d && "
            ".venv-v2d/bin/pip install --no-deps video2dataset==1.3.0 ffmpeg-python future"
        )

    work = tempfile.mkdtemp(prefix="bench-v2d-")
    try:
        folder = os.path.join(work, "videos")
        samples = make_sample_folder(folder, args.videos, seconds=args.seconds, seed=41)
        paths = {s.video_id: s.media_path for s in samples}
        print(f"{args.videos} local videos of {args.seconds:.0f} s, 1280x720")
        modes = [
            ("copy", ["--cut-mode", "copy"], "low"),
            (
                "exact",
                ["--cut-mode", "reencode", "--short-side", "0", "--preset", "medium", "--crf", "23"],
                "exact",
            ),
        ]
        for name, ours_options, precision in [m for m in modes if m[0] in args.modes.split(",")]:
            ours_s, rows = run_ours(folder, os.path.join(work, f"ours-{name}"), ours_options)
            spans = {}
            for r in sorted(rows, key=lambda r: r["start"]):
                spans.setdefault(r["video_id"], []).append([r["start"], r["end"]])
            jobs = [{"path": paths[v], "spans": s} for v, s in sorted(spans.items())]
            v2d_s, v2d_videos, v2d_clips = run_v2d(jobs, work, precision)
            stages_s = run_ours_stages(rows, paths, os.path.join(work, f"stages-{name}"), ours_options)
            v2d_rate, stages_rate, run_rate = v2d_videos / v2d_s, len(spans) / stages_s, len(spans) / ours_s
            print(
                f"{name:5s} video2dataset clip+write {v2d_rate:6.2f} videos/s ({v2d_clips} clips) | "
                f"ours cut+write {stages_rate:6.2f} videos/s, ratio {stages_rate / v2d_rate:.2f} | "
                f"ours whole run {run_rate:6.2f} videos/s, ratio {run_rate / v2d_rate:.2f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
