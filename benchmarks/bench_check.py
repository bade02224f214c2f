"""Time and memory of ``python -m curate check`` over a large clean output (issue 23).

Builds committed outputs (tests/factories.committed_output: realistic shard sidecars, 1000 clips a
shard) and fills each shard's tar with what a run writes: a real mp4 (1 s of 224x224 H.264, made once
with ffmpeg), the clip's json and its subtitle; then writes the stats.json the index implies. Over each
it runs ``curate check`` (every mp4 demuxed and its first frame decoded), the same with ``--jobs N``
and ``curate check --no-media``, and prints seconds, clips/s and the peak RSS (of the largest process).
Goal: memory flat in the clips (largest <= 1.3x smallest).

    python benchmarks/bench_check.py [--sizes 10000 100000] [--workdir /tmp/bench-check]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)


def tiny_mp4(work: str) -> bytes:
    path = os.path.join(work, "tiny.mp4")
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=224x224:rate=25",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            path,
        ],
        check=True,
    )
    with open(path, "rb") as f:
        return f.read()


def fill_output(out: str, mp4: bytes) -> None:
    """Members in every shard of a committed output, and its stats.json and failures.jsonl."""
    from collections import Counter

    from curate.output import index

    clips, videos, scales = 0, 0, Counter()
    for shard in index.committed_shards(out):
        table = index.read_partition(index.partition_path(out, shard))
        with tarfile.open(os.path.join(out, "shards", f"{shard}.tar"), "w") as tar:
            for row in table.to_pylist():
                for ext, data in (
                    ("mp4", mp4),
                    ("json", json.dumps(row).encode()),
                    ("txt", (row["subtitle"] or "").encode()),
                ):
                    info = tarfile.TarInfo(f"{row['key']}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        clips += table.num_rows
        videos += len(set(table.column("video_id").to_pylist()))
        scales.update(table.column("scale").to_pylist())
    stats = {
        "num_clips": clips,
        "num_shards": len(index.committed_shards(out)),
        "clips": {"scales": {s: {"clips": n} for s, n in scales.items()}},
        "counts": {"videos_kept": videos},
    }
    with open(os.path.join(out, "stats.json"), "w") as f:
        json.dump(stats, f)
    open(os.path.join(out, "failures.jsonl"), "w").close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--jobs", type=int, default=2, help="also run check --jobs N (default %(default)s)")
    parser.add_argument("--workdir", default=None, help="where the outputs are built (default: a temp dir)")
    args = parser.parse_args()
    from factories import committed_output, run_measured

    work = args.workdir or tempfile.mkdtemp(prefix="bench-check-")
    os.makedirs(work, exist_ok=True)
    rows = []
    try:
        mp4 = tiny_mp4(work)
        for size in args.sizes:
            out = os.path.join(work, f"out-{size}")
            shutil.rmtree(out, ignore_errors=True)
            committed_output(out, size)
            fill_output(out, mp4)
            for extra in ([], ["--jobs", str(args.jobs)], ["--no-media"]):
                seconds, peaks = run_measured([sys.executable, "-m", "curate", "check", out, *extra])
                what = "check " + " ".join(extra)
                rows.append((size, what, seconds, max(mb for mb, _ in peaks.values())))
                print(
                    f"{size} clips: {what:18s} {seconds:7.1f} s {size / seconds:8.0f} clips/s "
                    f"peak RSS {rows[-1][3]:.0f} MB",
                    flush=True,
                )
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\n| clips | command | s | clips/s | peak RSS (MB) |")
    print("|---:|---|---:|---:|---:|")
    for size, what, sec, mb in rows:
        print(f"| {size} | {what} | {sec:.1f} | {size / sec:.0f} | {mb:.0f} |")


if __name__ == "__main__":
    main()
