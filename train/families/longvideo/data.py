"""The long-video family's sample function (the registry's ``Family.sample``): frames at 1 FPS (the
paper's rate: "16 frames at 1 FPS", "256 frames (4.3 minutes at 1 FPS)") up to the model's
``num_frames``, the centre crop (the presets: appendix B, "we center-crop all frames and do not consider
additional data augmentation"), for the clips of the model config's ``scales`` only, so stage 2 trains
on the ``video`` clips of shards that also hold short ones. Images (image-text shards mixed in with
``--shards 'VIDEOS::IMAGES'``, the first stage's image data) come as ``num_frames`` copies of the
cropped image, flagged ``is_image``: the model embeds their first frame through its image path.

Which seconds: a clip longer than ``num_frames`` seconds gives ``num_frames`` consecutive ones, at a
random start in training and from its beginning in eval (the paper's ActivityNet protocol, appendix B:
"the first 16 seconds (sampling frames at 1 FPS from the beginning of the video)"); a shorter clip gives
each of its seconds, repeated in order to fill ``num_frames`` (the model's input has a fixed length).
The frame of second k is the one at k + 1/2 s.
"""

from __future__ import annotations

import io
import random
from typing import Optional

from train.data.decode import decode_sampled_frames, uniform_indices, video_duration
from train.data.samples import crop_frames
from train.data.shards import IMAGE_EXTENSIONS

OTHER_SCALE = "other_scale"  # skip reason of a clip of a scale the model config does not train on
SAMPLE_FPS = 1.0


def seconds_sampled(duration_s: float, num_frames: int, rng: Optional[random.Random]) -> list:
    """The seconds of the clip (0-based, of 1 / SAMPLE_FPS each) whose frames fill ``num_frames``."""
    available = max(1, int(duration_s * SAMPLE_FPS - 0.5) + 1)  # seconds k with k + 1/2 inside the clip
    if available >= num_frames:
        first = rng.randint(0, available - num_frames) if rng is not None else 0
        return [first + i for i in range(num_frames)]
    return [i * available // num_frames for i in range(num_frames)]


def one_fps_indices(
    num_available: int, duration_s: Optional[float], num_frames: int, rng: Optional[random.Random]
) -> list:
    """Indices of the frames at 1 FPS (see the module docstring) among the clip's ``num_available``;
    frames uniformly over the clip where its duration is unknown."""
    if not duration_s or duration_s <= 0:
        return uniform_indices(num_available, num_frames)
    rate = num_available / duration_s
    return [
        min(num_available - 1, int((k + 0.5) / SAMPLE_FPS * rate)) for k in seconds_sampled(duration_s, num_frames, rng)
    ]


def _duration(meta: dict) -> Optional[float]:
    if meta.get("duration"):
        return float(meta["duration"])
    if meta.get("end") is not None and meta.get("start") is not None:
        return float(meta["end"]) - float(meta["start"])
    return None


def image_frames(data: bytes, cfg, rng: Optional[random.Random]):
    """uint8 (num_frames, 3, S, S): the image cropped as the frames of a video are, repeated."""
    import numpy as np
    import torch
    from PIL import Image

    from train.data.decode import DecodeError

    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"))
    except Exception as exc:  # PIL raises many kinds (UnidentifiedImageError, OSError, ...)
        raise DecodeError(f"cannot read image: {exc}") from exc
    cropped = crop_frames(torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None], cfg, rng)
    return cropped.expand(cfg.model_config.num_frames, -1, -1, -1).contiguous()


def longvideo_sample(raw: dict, meta: dict, cfg, rng: Optional[random.Random]):
    """{"frames_TCHW": uint8 (T, 3, S, S), "is_image": bool}, or OTHER_SCALE for a clip outside
    ``cfg.model_config.scales``."""
    import torch

    mcfg = cfg.model_config
    image = next((raw[ext] for ext in IMAGE_EXTENSIONS if ext in raw), None)
    if "mp4" not in raw and image is not None:
        return {"frames_TCHW": image_frames(image, cfg, rng), "is_image": torch.tensor(True)}
    if mcfg.scales and meta.get("scale") is not None and meta["scale"] not in mcfg.scales:
        return OTHER_SCALE
    duration = _duration(meta) or video_duration(raw["mp4"])
    frames_THWC = decode_sampled_frames(
        raw["mp4"],
        mcfg.num_frames,
        short_side=cfg.decode_short_side,
        indices=lambda n: one_fps_indices(n, duration, mcfg.num_frames, rng),
    )
    frames_TCHW = crop_frames(torch.from_numpy(frames_THWC).permute(0, 3, 1, 2), cfg, rng)
    return {"frames_TCHW": frames_TCHW, "is_image": torch.tensor(False)}


longvideo_sample.accepts_images = True


def video_inputs(batch: dict, device) -> dict:
    """The keyword arguments of ``LongVideoCLIP.encode_video``: normalised frames and the image flags."""
    from train.data.samples import frames_inputs

    inputs = frames_inputs(batch, device)
    if "is_image" in batch:
        inputs["is_image_B"] = batch["is_image"].to(device, non_blocking=True)
    return inputs
