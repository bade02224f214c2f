"""Memory and time of a rerun over a large output, and of ``curate stats`` (issue 19).

Builds committed outputs of 100k, 1M and 4M clips without media (shard sidecars of realistic rows
beside empty tars, tests/factories.committed_output), then over each:
- reruns ``python -m curate run --recipe hdvila`` over a manifest of videos that are all done (the
  work of a resumed run: the resume join, finalize, clips.parquet, stats, report), in-process and in
  ``multi_processing`` mode with 2 workers;
- runs ``python -m curate stats``.
It prints the peak RSS of every process of each command (sampled from /proc), clips/s, and the ratio
of the largest size's memory to the smallest's. Goals: peak RSS <= 1 GB at every size, flat (largest
<= 1.3x smallest), rerun >= 50k clips/s on one core at 4M.

    python benchmarks/bench_scale.py [--sizes 100000 1000000 4000000] [--workdir /tmp/bench-scale]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 4_000_000])
    parser.add_argument("--workdir", default=None, help="where the outputs are built (default: a temp dir)")
    parser.add_argument("--modes", nargs="+", default=["in_process", "multi_processing"])
    args = parser.parse_args()
    from factories import committed_output, run_measured

    work = args.workdir or tempfile.mkdtemp(prefix="bench-scale-")
    rows = []
    try:
        for size in args.sizes:
            out = os.path.join(work, f"out-{size}")
            shutil.rmtree(out, ignore_errors=True)
            t = time.perf_counter()
            ids = committed_output(out, size)
            build_s = time.perf_counter() - t
            manifest = os.path.join(work, f"manifest-{size}.csv")
            with open(manifest, "w") as f:  # every video of the input is done: the rerun of a large run
                f.write("video_id,url\n")
                for vid in ids[:: max(1, len(ids) // 1000)]:
                    f.write(f"{vid},https://www.youtube.com/watch?v={vid}\n")
            for mode in args.modes:
                extra = (
                    ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
                    if mode == "multi_processing"
                    else []
                )
                cmd = [
                    sys.executable,
                    "-m",
                    "curate",
                    "run",
                    "--recipe",
                    "hdvila",
                    "--input",
                    manifest,
                    "--output",
                    out,
                    *extra,
                ]
                seconds, peaks = run_measured(cmd)
                rows.append((size, f"rerun {mode}", seconds, peaks))
            seconds, peaks = run_measured([sys.executable, "-m", "curate", "stats", out])
            rows.append((size, "stats", seconds, peaks))
            print(f"built {size} clips in {build_s:.1f} s", flush=True)
            for s, what, sec, peaks in rows[-len(args.modes) - 1 :]:
                print(
                    f"  {what:28s} {sec:7.1f} s  {s / sec:9.0f} clips/s  peak RSS per process (MB): "
                    + ", ".join(f"{mb:.0f}" for mb, _ in sorted(peaks.values(), reverse=True)),
                    flush=True,
                )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print("\n| clips | command | s | clips/s | peak RSS of the largest process (MB) | processes |")
    print("|---:|---|---:|---:|---:|---:|")
    for size, what, sec, peaks in rows:
        print(
            f"| {size} | {what} | {sec:.1f} | {size / sec:.0f} | {max(mb for mb, _ in peaks.values()):.0f} "
            f"| {len(peaks)} |"
        )
    smallest, largest = min(args.sizes), max(args.sizes)
    print()
    for what in sorted({w for _, w, _, _ in rows}):
        peak = {s: max(mb for mb, _ in p.values()) for s, w, _, p in rows if w == what}
        print(
            f"{what}: peak RSS at {largest} / at {smallest} clips = {peak[largest] / peak[smallest]:.2f} "
            f"(goal <= 1.3); largest process {max(peak.values()):.0f} MB (goal <= 1024)"
        )


if __name__ == "__main__":
    main()
