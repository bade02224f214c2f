"""VIMPAC's input: two windows of the same video (section 3.2), each ``num_frames`` frames at the
pre-training frame rate (2 FPS), placed uniformly and independently; resized and centre-cropped, no other
augmentation (the block-masked tokens are the only noise, section 3.3)."""

from __future__ import annotations

import random
from typing import Optional

PRETRAIN_FPS = 2.0  # section 4.2: frames sampled at 2 FPS


def window_stride(num_available: int, duration_s: Optional[float], fps: float = PRETRAIN_FPS) -> int:
    """Source frames between two sampled frames: the clip's frame rate over the sampling rate (1 when
    the duration is unknown)."""
    if not duration_s or duration_s <= 0:
        return 1
    return max(1, round(num_available / duration_s / fps))


def two_window_indices(num_available: int, num_frames: int, stride: int, rng: random.Random) -> list:
    """Frame indices of two windows (2 * num_frames, first window first). A clip too short for a
    window at ``stride`` gets the largest stride that fits (down to 1, then repeated frames)."""
    if num_available < 1:
        raise ValueError("clip has no frames")
    stride = max(1, min(stride, (num_available - 1) // max(1, num_frames - 1)))
    span = (num_frames - 1) * stride + 1
    out = []
    for _ in range(2):
        start = rng.randint(0, max(0, num_available - span))
        out += [min(num_available - 1, start + i * stride) for i in range(num_frames)]
    return out
