"""Spatial augmentation of sampled frames with plain torch ops (no torchvision).

Frames stay uint8 (T, C, H, W) through the loader; normalisation with CLIP's mean and std happens on
the training device (``normalize``), which keeps worker-to-trainer transfers four times smaller.
"""

from __future__ import annotations

import random
from typing import Sequence

# OpenAI CLIP's image normalisation.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def crop_and_resize(frames_TCHW, top: int, left: int, side: int, size: int):
    """Square crop ``side`` x ``side`` at (top, left), resized to ``size`` x ``size`` (uint8 in and out)."""
    import torch.nn.functional as F

    crop_TCHW = frames_TCHW[:, :, top : top + side, left : left + side]
    if side == size:
        return crop_TCHW.contiguous()
    resized = F.interpolate(
        crop_TCHW.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=side > size
    )
    return resized.round_().clamp_(0, 255).to(frames_TCHW.dtype)


def random_multiscale_crop(frames_TCHW, size: int, scales: Sequence[float], rng: random.Random, flip: bool = True):
    """VidLA's training augmentation: a square crop whose side is a randomly chosen ``scale`` of the
    short side (so the aspect ratio is kept), at a random position, the same for every frame,
    resized to ``size``; then a horizontal flip with probability 1/2."""
    height, width = frames_TCHW.shape[-2:]
    side = max(1, round(min(height, width) * rng.choice(list(scales))))
    top = rng.randint(0, height - side)
    left = rng.randint(0, width - side)
    out_TCHW = crop_and_resize(frames_TCHW, top, left, side, size)
    if flip and rng.random() < 0.5:
        out_TCHW = out_TCHW.flip(-1)
    return out_TCHW


def center_crop(frames_TCHW, size: int):
    """Evaluation: the largest centred square, resized to ``size`` (CLIP's resize-then-crop)."""
    height, width = frames_TCHW.shape[-2:]
    side = min(height, width)
    return crop_and_resize(frames_TCHW, (height - side) // 2, (width - side) // 2, side, size)


def normalize(frames_BTCHW_uint8, dtype=None):
    """uint8 frames -> float frames normalised with CLIP's mean/std, on the frames' device."""
    import torch

    dtype = dtype or torch.float32
    mean = torch.tensor(CLIP_MEAN, device=frames_BTCHW_uint8.device, dtype=dtype).view(3, 1, 1)
    std = torch.tensor(CLIP_STD, device=frames_BTCHW_uint8.device, dtype=dtype).view(3, 1, 1)
    return (frames_BTCHW_uint8.to(dtype) / 255.0 - mean) / std
