"""The VidLA model library: configs, the two-tower model, CLIP weight loading. No torch.distributed here.

    from train.model import ModelConfig, build_model, PRESETS
    model = build_model(PRESETS["vidla-tiny-cpu"]())
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .config import PRESETS, ModelConfig, meanp_b32, tiny_cpu, vidla_b16, vidla_b32

if TYPE_CHECKING:
    from .vidla import VidLA

__all__ = ["ModelConfig", "PRESETS", "build_model", "tiny_cpu", "vidla_b32", "vidla_b16", "meanp_b32"]


def build_model(cfg: ModelConfig) -> "VidLA":
    """A VidLA model for `cfg`, initialised from `cfg.clip_weights` when set."""
    from .vidla import VidLA  # torch is imported only when a model is built
    from .weights import load_configured_clip_weights

    model = VidLA(cfg)
    load_configured_clip_weights(model, cfg)
    return model
