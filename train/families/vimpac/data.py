"""VIMPAC's input: two windows of the same video (section 3.2), each ``num_frames`` frames at the
pre-training frame rate (2 FPS), placed uniformly and independently over the whole video: the first in
the sampled clip, its positive anywhere in the clips of the clip's video (``partners``; within
``positive_max_distance`` seconds when set); resized and centre-cropped, no other augmentation (the
block-masked tokens are the only noise, section 3.3; appendix C).

Codes are computed on the fly from the frames, or read from ``<key>.codes.npy`` where the shards carry
them (``python -m train.families.vimpac.precompute``: the dVAE codes of every frame at the model's
``sample_fps``, so the loader decodes no video at all). Measured in benchmarks/bench_vq.py: tokenizing is most of a
CPU training step, so precomputing pays off whenever the same shards are read more than once.
"""

from __future__ import annotations

import io
import logging
import random
from typing import Optional

log = logging.getLogger(__name__)

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


def window_indices(num_available: int, duration_s: float, offset_s: float, num_frames: int, fps: float) -> list:
    """Frame indices of a window of ``num_frames`` at ``fps`` starting ``offset_s`` seconds into a clip of
    ``num_available`` frames lasting ``duration_s`` (the stride shrinks where the clip is too short)."""
    stride = window_stride(num_available, duration_s, fps)
    stride = max(1, min(stride, (num_available - 1) // max(1, num_frames - 1)))
    last_start = max(0, num_available - ((num_frames - 1) * stride + 1))
    first = min(last_start, max(0, round(offset_s * num_available / duration_s)))
    return [min(num_available - 1, first + i * stride) for i in range(num_frames)]


def _anchor_and_partner(raw: dict, meta: dict, mcfg, rng: random.Random):
    """(anchor start, partner IndexedClip, partner start, shard index), in seconds of the source video;
    None where the clip cannot be placed in its video (no video_id or times, or a remote shard)."""
    from train.families.vimpac.partners import choose_partner, local_shard, shard_index

    path, duration = local_shard(raw), clip_duration(meta)
    if path is None or not meta.get("video_id") or meta.get("start") is None or not duration:
        return None
    index = shard_index(path)
    clips = index.clips(meta["video_id"], meta.get("scale"))
    if not any(c.key == raw["__key__"] for c in clips):
        return None
    span = (mcfg.num_frames - 1) / mcfg.sample_fps
    start = float(meta["start"])
    anchor = rng.uniform(start, max(start, start + duration - span))
    clip, partner = choose_partner(anchor, clips, span, mcfg.positive_max_distance, rng)
    return anchor, clip, partner, index


_warned_within_clip = False


def _within_clip_warning(raw: dict) -> None:
    global _warned_within_clip
    if not _warned_within_clip:
        _warned_within_clip = True
        log.warning(
            "VIMPAC sample %s: its video's other clips cannot be found (a remote shard, or no "
            "video_id/start/end in its json): positives come from the clip itself",
            raw.get("__key__"),
        )


def vimpac_sample(raw: dict, meta: dict, cfg, rng: Optional[random.Random]):
    """The registry's sample function: {"frames_TCHW", "second_TCHW"} (uint8 windows), or
    {"codes_THW", "second_codes_THW"} when the sample carries precomputed codes. In training the second
    window is the positive drawn across the video (``partners``); in eval (no ``rng``) the two are the
    first and the last window of the clip."""
    import numpy as np
    import torch

    mcfg = cfg.model_config
    T, S = mcfg.num_frames, mcfg.image_size
    placed = _anchor_and_partner(raw, meta, mcfg, rng) if rng is not None else None
    if rng is not None and placed is None:
        _within_clip_warning(raw)
    duration = clip_duration(meta)
    if "codes.npy" in raw:
        codes_NHW = np.load(io.BytesIO(raw["codes.npy"]))
        side = S // 8
        if codes_NHW.ndim != 3 or codes_NHW.shape[1:] != (side, side) or not len(codes_NHW):
            return "bad_codes"
        if placed is None:
            idx = two_window_indices(len(codes_NHW), T, 1, rng)  # the codes are at the precompute's rate
            codes = torch.from_numpy(codes_NHW[idx].astype(np.int64))
            return {"codes_THW": codes[:T], "second_codes_THW": codes[T:]}
        anchor, clip, partner, index = placed
        partner_bytes = raw["codes.npy"] if clip.key == raw["__key__"] else index.read(clip, "codes.npy")
        if partner_bytes is None:
            return "bad_codes"
        partner_NHW = np.load(io.BytesIO(partner_bytes))
        if partner_NHW.ndim != 3 or partner_NHW.shape[1:] != (side, side) or not len(partner_NHW):
            return "bad_codes"
        rate = len(codes_NHW) / duration  # codes per second: the precompute's rate

        def code_window(codes, offset_s):
            idx = window_indices(len(codes), len(codes) / rate, offset_s, T, rate)
            return torch.from_numpy(codes[idx].astype(np.int64))

        return {
            "codes_THW": code_window(codes_NHW, anchor - float(meta["start"])),
            "second_codes_THW": code_window(partner_NHW, partner - clip.start),
        }
    if placed is None:

        def indices(n: int) -> list:
            return two_window_indices(n, T, window_stride(n, duration, mcfg.sample_fps), rng)

        frames = decode_clip_frames(raw["mp4"], indices, S, cfg.decode_short_side)
        return {"frames_TCHW": frames[:T], "second_TCHW": frames[T:]}
    anchor, clip, partner, index = placed
    anchor_offset = anchor - float(meta["start"])
    if clip.key == raw["__key__"]:  # both windows from this clip: one decoding pass

        def both(n: int) -> list:
            return window_indices(n, duration, anchor_offset, T, mcfg.sample_fps) + window_indices(
                n, duration, partner - clip.start, T, mcfg.sample_fps
            )

        frames = decode_clip_frames(raw["mp4"], both, S, cfg.decode_short_side)
        return {"frames_TCHW": frames[:T], "second_TCHW": frames[T:]}
    partner_mp4 = index.read(clip, "mp4")
    if partner_mp4 is None:
        return "missing_video"
    first = decode_clip_frames(
        raw["mp4"], lambda n: window_indices(n, duration, anchor_offset, T, mcfg.sample_fps), S, cfg.decode_short_side
    )
    second = decode_clip_frames(
        partner_mp4,
        lambda n: window_indices(n, clip.end - clip.start, partner - clip.start, T, mcfg.sample_fps),
        S,
        cfg.decode_short_side,
    )
    return {"frames_TCHW": first, "second_TCHW": second}


def video_inputs(batch: dict, device) -> dict:
    """Keyword arguments of ``Vimpac.encode_video`` / ``encode_views``: both windows, as codes or frames."""
    names = ("codes_BTHW", "second_codes_BTHW") if "codes_BTHW" in batch else ("frames_BTCHW", "second_BTCHW")
    return {name: batch[name].to(device, non_blocking=True) for name in names if name in batch}
