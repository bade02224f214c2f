"""VidLA's sample function (the registry's ``Family.sample``): ``num_frames`` frames sampled uniformly
from the clip, a square crop (random multi-scale crop + flip in training, or the centre crop with
``train_crop="center"``; centre crop in eval), kept uint8; and ``frames_inputs``, which normalises them
on the training device for ``encode_video``."""

from __future__ import annotations

import random

import torch

from train.data.decode import decode_sampled_frames
from train.data.transforms import center_crop, normalize, random_multiscale_crop


def frames_sample(raw: dict, meta: dict, cfg, rng: random.Random | None) -> dict:
    """{"frames_TCHW": uint8 (T, 3, S, S)} of ``raw["mp4"]`` (bytes or a path); raises DecodeError."""
    frames_THWC = decode_sampled_frames(raw["mp4"], cfg.num_frames, short_side=cfg.decode_short_side)
    return {"frames_TCHW": crop_frames(torch.from_numpy(frames_THWC).permute(0, 3, 1, 2), cfg, rng)}


def crop_frames(frames_TCHW, cfg, rng: random.Random | None):
    """The square crop of ``cfg`` (a ClipLoaderConfig): the random multi-scale crop (+ flip) in training,
    the centre crop in eval and in training with ``train_crop="center"`` (flipped there if ``cfg.flip``)."""
    if cfg.train and cfg.train_crop == "multiscale":
        return random_multiscale_crop(frames_TCHW, cfg.image_size, cfg.crop_scales, rng, cfg.flip)
    frames_TCHW = center_crop(frames_TCHW, cfg.image_size)
    if cfg.train and cfg.flip and rng.random() < 0.5:
        frames_TCHW = frames_TCHW.flip(-1)
    return frames_TCHW


def frames_inputs(batch: dict, device: torch.device) -> dict:
    """The keyword arguments of VidLA's ``encode_video``: frames normalised with CLIP's mean/std."""
    return {"frames_BTCHW": normalize(batch["frames_BTCHW"].to(device, non_blocking=True))}
