"""HD-VILA (seed 000): hybrid video encoder over one HR frame and 2N LR neighbours per segment, BERT
language encoder, contrastive stage 1 and MLM stage 2. Torch-free at import.

    from train.families.hdvila import PRESETS, build_model
    model = build_model(PRESETS["hdvila-tiny-cpu"]())
"""

from __future__ import annotations

from .config import PRESETS, HDVILAConfig, hdvila_paper, tiny_cpu

__all__ = ["HDVILAConfig", "PRESETS", "build_model", "hdvila_paper", "tiny_cpu"]


def build_model(cfg: HDVILAConfig):
    """An HD-VILA model for ``cfg``, initialised from ``cfg.resnet_weights`` / ``cfg.bert_weights``
    where set (random init otherwise)."""
    from .model import HDVILA
    from .weights import load_weights

    model = HDVILA(cfg)
    load_weights(model, cfg)
    return model
