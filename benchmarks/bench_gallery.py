"""Time of ``curate gallery`` for 1,000 clips on one core (issue 23; goal: under a minute).

Builds an output of --index-clips committed clips (tests/factories.committed_output: realistic sidecar
rows), whose tars hold a real H.264 mp4 for every clip (one 224p clip made with ffmpeg, stored under
every key), a failures.jsonl of --failures lines, and its stats and plots (as `curate stats` makes
them); then, pinned to one CPU, times ``python -m curate gallery DIR --sample N`` in process: the
sample, the mp4s taken out of the tars, a poster per clip, the page.

    python benchmarks/bench_gallery.py [--sample 1000] [--index-clips 20000] [--workdir /tmp/bench-gallery]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)


def make_clip(path: str, seconds: float = 8.0) -> None:
    source = f"testsrc2=size=398x224:rate=25:d={seconds}"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "28",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            path,
        ],
        check=True,
    )


def build_output(out: str, clips: int, failures: int) -> None:
    import pyarrow.parquet as pq
    from factories import committed_output

    committed_output(out, clips, clips_per_video=10, clips_per_shard=1000)
    with tempfile.TemporaryDirectory() as tmp:
        clip = os.path.join(tmp, "clip.mp4")
        make_clip(clip)
        video = open(clip, "rb").read()
    shards = os.path.join(out, "shards")
    for name in sorted(n for n in os.listdir(shards) if n.endswith(".parquet")):
        keys = pq.read_table(os.path.join(shards, name), columns=["key"]).column("key").to_pylist()
        with tarfile.open(os.path.join(shards, name.replace(".parquet", ".tar")), "w") as tar:
            for key in keys:
                for ext, data in (("mp4", video), ("json", json.dumps({"key": key}).encode()), ("txt", b"a subtitle")):
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    with open(os.path.join(out, "failures.jsonl"), "w") as f:
        for i in range(failures):
            f.write(
                json.dumps(
                    {
                        "video_id": f"bad{i:07d}",
                        "stage": ["download", "probe", "cut"][i % 3],
                        "reason": f"reason_{i % 7}",
                        "detail": "what went wrong",
                        "key": "",
                    }
                )
                + "\n"
            )
    from curate.beam.finalize import FILE, rebuild

    rebuild(out, source=FILE, index_file=False)  # stats.json, report.md and plots, as `curate stats`


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--index-clips", type=int, default=20_000, help="clips in the index sampled from")
    parser.add_argument("--failures", type=int, default=100_000, help="lines of failures.jsonl")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the goal says

    work = args.workdir or tempfile.mkdtemp(prefix="bench-gallery-")
    out = os.path.join(work, "out")
    try:
        if not os.path.isdir(os.path.join(out, "shards")):
            t = time.perf_counter()
            build_output(out, args.index_clips, args.failures)
            print(f"built {args.index_clips} clips in {time.perf_counter() - t:.1f}s under {out}")
        from curate.__main__ import main as curate

        wall, cpu = time.perf_counter(), time.process_time()
        curate(["gallery", out, "--sample", str(args.sample)])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        size = sum(
            os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(out, "gallery")) for f in fs
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"gallery of {args.sample} clips (of {args.index_clips}, {args.failures} failures) on one "
            f"core: {wall:.1f}s wall, {cpu:.1f}s CPU, {size / 2**20:.0f} MiB written, "
            f"peak RSS {peak:.0f} MiB (goal: < 60 s)"
        )
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
