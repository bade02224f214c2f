"""The long-video recipe of seed 003 (family ``longvideo``): a video-first CLIP (ViViT, joint space-time
attention over Conv3d tubelets inflated from CLIP's patch kernel, mean pooled), trained contrastively in
two stages: short clips, then long inputs with 75% of the tokens masked.

    from train.families.longvideo import MODEL_PRESETS, build_model
    model = build_model(MODEL_PRESETS["longvideo-tiny-cpu"]())
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .config import MODEL_PRESETS, LongVideoConfig

if TYPE_CHECKING:
    from .model import LongVideoCLIP

__all__ = ["LongVideoConfig", "MODEL_PRESETS", "build_model"]


def build_model(cfg: LongVideoConfig) -> "LongVideoCLIP":
    """A LongVideoCLIP for `cfg`, initialised from `cfg.clip_weights` when set."""
    from .model import LongVideoCLIP  # torch is imported only when a model is built
    from .weights import load_clip

    model = LongVideoCLIP(cfg)
    if cfg.clip_weights is not None:
        load_clip(model, cfg.clip_weights)
    return model
