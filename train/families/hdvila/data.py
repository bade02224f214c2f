"""HD-VILA's hybrid image sequences from a clip (section 4.1, 5.1), decoded in one pass.

The clip is cut into ``num_segments`` equal segments. In each, one HR frame at t (a random frame of
the segment when training, its centre for evaluation) and its 2N LR neighbours t + k*r, k = +-1..+-N
(clamped to the clip). The decoder converts the HR frames at ``hr_short_side`` (None: the source's
resolution, 720p for HD-VILA-100M) and the LR frames at a quarter of that, so no frame is decoded
twice and no LR frame is converted at full size.

Crops are aligned: an HR crop of ``hr_size`` at (top, left), both multiples of 4, and the LR crop of
``hr_size / 4`` at (top / 4, left / 4) of the quarter-size LR frame cover the same part of the scene
(the paper's 640x1024 and 160x256). One crop position per clip, drawn from ``rng`` when training,
centred for evaluation.
"""

from __future__ import annotations

import random
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from train.data.decode import decode_frames

from .config import LR_FACTOR, HDVILAConfig
from .video import normalize_imagenet


def segment_frame_indices(num_available: int, cfg: HDVILAConfig, rng: Optional[random.Random]) -> list:
    """[(HR index, [2N LR indices, in time order]) per segment]; ``rng`` None: centred HR frames."""
    out = []
    for s in range(cfg.num_segments):
        start = s * num_available // cfg.num_segments
        end = max(start + 1, (s + 1) * num_available // cfg.num_segments)
        t = rng.randrange(start, end) if rng is not None else (start + end - 1) // 2
        offsets = [k * cfg.sample_rate for k in range(-cfg.num_neighbours, cfg.num_neighbours + 1) if k]
        out.append((t, [min(num_available - 1, max(0, t + o)) for o in offsets]))
    return out


def _resize(frame_CHW: torch.Tensor, size: tuple) -> torch.Tensor:
    if tuple(frame_CHW.shape[-2:]) == tuple(size):
        return frame_CHW
    shrink = size[0] < frame_CHW.shape[-2]
    resized = F.interpolate(frame_CHW[None].float(), size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


def aligned_crops(hr_SCHW: torch.Tensor, lr_SKCHW: torch.Tensor, hr_size: tuple, rng: Optional[random.Random]) -> tuple:
    """Crop HR frames to ``hr_size`` and LR frames to the aligned ``hr_size / 4`` (see the module doc).
    An HR frame smaller than the crop is scaled up first (keeping its aspect ratio); LR frames are
    brought to exactly a quarter of the HR frame so crop coordinates divide by 4."""
    crop_h, crop_w = hr_size
    height, width = hr_SCHW.shape[-2:]
    scale = max(crop_h / height, crop_w / width, 1.0)
    if scale > 1.0:
        height, width = max(crop_h, round(height * scale)), max(crop_w, round(width * scale))
        hr_SCHW = torch.stack([_resize(f, (height, width)) for f in hr_SCHW])
    lr_size = (height // LR_FACTOR, width // LR_FACTOR)
    S, K = lr_SKCHW.shape[:2]
    lr_SKCHW = torch.stack([_resize(f, lr_size) for f in lr_SKCHW.flatten(0, 1)]).view(S, K, 3, *lr_size)
    max_top, max_left = (height - crop_h) // LR_FACTOR, (width - crop_w) // LR_FACTOR
    if rng is not None:
        top, left = rng.randint(0, max_top) * LR_FACTOR, rng.randint(0, max_left) * LR_FACTOR
    else:
        top, left = max_top // 2 * LR_FACTOR, max_left // 2 * LR_FACTOR
    hr_out = hr_SCHW[..., top : top + crop_h, left : left + crop_w]
    lr_top, lr_left = top // LR_FACTOR, left // LR_FACTOR
    lr_out = lr_SKCHW[..., lr_top : lr_top + crop_h // LR_FACTOR, lr_left : lr_left + crop_w // LR_FACTOR]
    return hr_out.contiguous(), lr_out.contiguous()


def hybrid_sample(
    video: Union[bytes, str],
    cfg: HDVILAConfig,
    rng: Optional[random.Random] = None,
    hr_short_side: Optional[int] = None,
) -> dict:
    """One clip -> {"hr_frames": (S, 3, H, W) uint8, "lr_frames": (S, 2N, 3, H/4, W/4) uint8}.
    ``rng``: training (random HR frame in each segment, random crop); None: evaluation (centred).
    Raises ``DecodeError`` for a clip that cannot be decoded."""
    plan = []

    def pick(num_available: int) -> list:
        plan.extend(segment_frame_indices(num_available, cfg, rng))
        return [i for hr, lrs in plan for i in (hr, *lrs)]

    K = 2 * cfg.num_neighbours

    def short_side_of(position: int, source_short_side: int) -> Optional[int]:
        hr_side = min(source_short_side, hr_short_side or source_short_side)
        return hr_side if position % (K + 1) == 0 else max(1, hr_side // LR_FACTOR)

    frames = decode_frames(video, pick, short_side_of)
    hr = [frames[s * (K + 1)] for s in range(cfg.num_segments)]
    lr = [frames[s * (K + 1) + 1 : (s + 1) * (K + 1)] for s in range(cfg.num_segments)]
    hr_SCHW = torch.from_numpy(np.stack(hr)).permute(0, 3, 1, 2)
    lr_SKCHW = torch.from_numpy(np.stack([np.stack(f) for f in lr])).permute(0, 1, 4, 2, 3)
    hr_SCHW, lr_SKCHW = aligned_crops(hr_SCHW, lr_SKCHW, cfg.hr_size, rng)
    return {"hr_frames": hr_SCHW, "lr_frames": lr_SKCHW}


def sample(raw: dict, meta: dict, cfg, rng: Optional[random.Random]) -> dict:
    """The registry's sample function: {"hr_SCHW", "lr_SKCHW"} of ``raw["mp4"]``, the HR frames
    decoded at ``cfg.decode_short_side`` (None: full resolution)."""
    out = hybrid_sample(raw["mp4"], cfg.model_config, rng, cfg.decode_short_side)
    return {"hr_SCHW": out["hr_frames"], "lr_SKCHW": out["lr_frames"]}


def video_inputs(batch: dict, device) -> dict:
    """The keyword arguments of ``HDVILA.encode_video``: the frames on ``device``, normalised."""
    return {
        "hr_BSCHW": normalize_imagenet(batch["hr_BSCHW"].to(device, non_blocking=True)),
        "lr_BSKCHW": normalize_imagenet(batch["lr_BSKCHW"].to(device, non_blocking=True)),
    }
