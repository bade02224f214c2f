"""VidLA's weight loader (the registry's ``Family.load_weights``): CLIP weights from ``cfg.clip_weights``
through the shared CLIP loader (train.model.weights)."""

from __future__ import annotations

from torch import nn

from train.model.weights import load_clip_weights


def load_configured_clip_weights(model: nn.Module, cfg) -> dict | None:
    """CLIP weights from ``cfg.clip_weights`` when set; the report names the tensors left at init."""
    if cfg.clip_weights is None:
        return None
    return {"clip_weights": str(cfg.clip_weights), "left_at_init": load_clip_weights(model, cfg.clip_weights)}
