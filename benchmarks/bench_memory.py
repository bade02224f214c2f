"""Peak memory of a whole run (``python -m curate run --recipe hdvila``) over 10 and over 100 videos:
it must not grow with the number of videos (clips go to disk, only small records travel through Beam).

    python benchmarks/bench_memory.py [--small 10] [--large 100] [--seconds 10]

Ten distinct short videos are generated; the larger input repeats them under new ids (the files are
copied and renamed, so every video is read, cut and written again). Each run is its own process; its
peak resident memory (the pipeline process) and that of its largest child (ffmpeg) are printed, with
the ratio large/small.
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

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)

from samplemedia import make_sample_folder  # noqa: E402

RUNNER = """
import resource, sys
from curate.__main__ import main
code = main(sys.argv[1:])
self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"PEAK {self_kb} {child_kb}")
sys.exit(code)
"""


def replicate(folder: str, out: str, copies: int) -> None:
    """`copies` videos in `out`: the videos of `folder` over and over, each under a new id."""
    os.makedirs(out)
    ids = sorted(n[: -len(".info.json")] for n in os.listdir(folder) if n.endswith(".info.json"))
    for i in range(copies):
        src, dst = ids[i % len(ids)], f"{ids[i % len(ids)]}c{i:04d}"
        shutil.copy(os.path.join(folder, f"{src}.mp4"), os.path.join(out, f"{dst}.mp4"))
        shutil.copy(os.path.join(folder, f"{src}.en.vtt"), os.path.join(out, f"{dst}.en.vtt"))
        with open(os.path.join(folder, f"{src}.info.json")) as f:
            info = json.load(f)
        info["id"] = dst
        with open(os.path.join(out, f"{dst}.info.json"), "w") as f:
            json.dump(info, f)


def peak_of_run(folder: str, out: str, extra: list) -> tuple:
    cmd = [sys.executable, "-c", RUNNER, "run", "--recipe", "hdvila", "--input", folder, "--output", out, *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    line = next(line for line in done.stdout.splitlines() if line.startswith("PEAK "))
    self_kb, child_kb = map(int, line.split()[1:])
    with open(os.path.join(out, "stats.json")) as f:
        stats = json.load(f)
    return self_kb / 1024, child_kb / 1024, elapsed, stats["counts"]["videos_kept"], stats["num_clips"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cut-mode", default="copy", help="copy keeps the run quick; memory is what is measured")
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="bench-mem-")
    try:
        base = os.path.join(work, "base")
        make_sample_folder(base, 10, seconds=args.seconds, seed=31)
        results = {}
        for n in (args.small, args.large):
            folder = os.path.join(work, f"in{n}")
            replicate(base, folder, n)
            results[n] = peak_of_run(
                folder,
                os.path.join(work, f"out{n}"),
                ["--cut-mode", args.cut_mode, "--shard-max-samples", "20"],
            )
            rss, child, elapsed, kept, clips = results[n]
            print(
                f"{n:4d} videos: {kept} kept, {clips} clips in {elapsed:.1f} s; "
                f"peak RSS pipeline {rss:.0f} MiB, largest child {child:.0f} MiB"
            )
        small, large = results[args.small], results[args.large]
        print(
            f"peak RSS ratio {args.large}/{args.small} videos: pipeline {large[0] / small[0]:.2f}, "
            f"child {large[1] / small[1]:.2f} (1.00 = no growth with the number of videos)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
