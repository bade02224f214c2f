"""The long-video family's sample function (the registry's ``Family.sample``): VidLA's frame sampling
(``num_frames`` uniformly over the clip, square crop) for the clips of the model config's ``scales``
only, so stage 2 trains on the ``video`` clips of shards that also hold short ones."""
from __future__ import annotations

import random
from typing import Optional

from train.data.samples import frames_sample

OTHER_SCALE = "other_scale"  # skip reason of a clip of a scale the model config does not train on


def longvideo_sample(raw: dict, meta: dict, cfg, rng: Optional[random.Random]):
    """{"frames_TCHW": uint8 (T, 3, S, S)}, or OTHER_SCALE for a clip outside ``cfg.model_config.scales``."""
    scales = cfg.model_config.scales
    if scales and meta.get("scale") is not None and meta["scale"] not in scales:
        return OTHER_SCALE
    return frames_sample(raw, meta, cfg, rng)
