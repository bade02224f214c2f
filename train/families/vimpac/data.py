"""VIMPAC's input: two windows of the same video (section 3.2), each ``num_frames`` frames at the
pre-training frame rate (2 FPS), placed uniformly and independently; resized and centre-cropped, no
other augmentation (the block-masked tokens are the only noise, section 3.3; appendix C).

Codes are computed on the fly from the frames, or read from ``<key>.codes.npy`` where the shards carry
them (``python -m train.families.vimpac.precompute``: the dVAE codes of every frame at the model's
``sample_fps``, so the loader decodes no video at all). Measured in benchmarks/bench_vq.py: tokenizing is most of a
CPU training step, so precomputing pays off whenever the same shards are read more than once.
"""

from __future__ import annotations

import io
import random
from typing import Optional

PRETRAIN_FPS = 2.0  # section 4.2: frames sampled at 2 FPS


def window_stride(num_available: int, duration_s: Optional[float], fps: float = PRETRAIN_FPS) -> int:
    """Source frames between two sampled frames: the clip's frame rate over the sampling rate (1 when
    the duration is unknown)."""
    if not duration_s or duration_s <= 0:
        return 1
    return max(1, round(num_available / duration_s / fps))


def two_window_indices(num_available: int, num_frames: int, stride: int, rng: Optional[random.Random]) -> list:
    """Frame indices of two windows (2 * num_frames, first window first). A clip too short for a
    window at ``stride`` gets the largest stride that fits (down to 1, then repeated frames). With no
    ``rng`` (eval) the windows are the first and the last of the clip."""
    if num_available < 1:
        raise ValueError("clip has no frames")
    stride = max(1, min(stride, (num_available - 1) // max(1, num_frames - 1)))
    span = (num_frames - 1) * stride + 1
    last_start = max(0, num_available - span)
    starts = [0, last_start] if rng is None else [rng.randint(0, last_start), rng.randint(0, last_start)]
    return [min(num_available - 1, start + i * stride) for start in starts for i in range(num_frames)]


def clip_duration(meta: dict) -> Optional[float]:
    if meta.get("duration"):
        return float(meta["duration"])
    if meta.get("end") is not None and meta.get("start") is not None:
        return float(meta["end"]) - float(meta["start"])
    return None


def decode_clip_frames(source, indices, image_size: int, short_side: Optional[int]):
    """uint8 (N, 3, S, S) frames at ``indices`` (a list, or a function of the frame count), centre-cropped."""
    import torch

    from train.data.decode import decode_sampled_frames
    from train.data.transforms import center_crop

    frames = decode_sampled_frames(source, 0, short_side=short_side, indices=indices)
    return center_crop(torch.from_numpy(frames).permute(0, 3, 1, 2), image_size)


def vimpac_sample(raw: dict, meta: dict, cfg, rng: Optional[random.Random]):
    """The registry's sample function: {"frames_TCHW", "second_TCHW"} (uint8 windows), or
    {"codes_THW", "second_codes_THW"} when the sample carries precomputed codes."""
    import numpy as np
    import torch

    mcfg = cfg.model_config
    T, S = mcfg.num_frames, mcfg.image_size
    if "codes.npy" in raw:
        codes_NHW = np.load(io.BytesIO(raw["codes.npy"]))
        side = S // 8
        if codes_NHW.ndim != 3 or codes_NHW.shape[1:] != (side, side) or not len(codes_NHW):
            return "bad_codes"
        idx = two_window_indices(len(codes_NHW), T, 1, rng)  # the codes are at the precompute's rate
        codes = torch.from_numpy(codes_NHW[idx].astype(np.int64))
        return {"codes_THW": codes[:T], "second_codes_THW": codes[T:]}
    duration = clip_duration(meta)

    def indices(n: int) -> list:
        return two_window_indices(n, T, window_stride(n, duration, mcfg.sample_fps), rng)

    frames = decode_clip_frames(raw["mp4"], indices, S, cfg.decode_short_side)
    return {"frames_TCHW": frames[:T], "second_TCHW": frames[T:]}


def video_inputs(batch: dict, device) -> dict:
    """Keyword arguments of ``Vimpac.encode_video`` / ``encode_views``: both windows, as codes or frames."""
    names = ("codes_BTHW", "second_codes_BTHW") if "codes_BTHW" in batch else ("frames_BTCHW", "second_BTCHW")
    return {name: batch[name].to(device, non_blocking=True) for name in names if name in batch}
