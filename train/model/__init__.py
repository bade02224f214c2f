"""The shared model library the families import: CLIP's towers (train.model.towers), the attention
(train.model.attention, train.model.layers) and CLIP weight loading (train.model.weights). No
torch.distributed here. VidLA itself is the family train.families.vidla.

``from train.model import ModelConfig, build_model, PRESETS`` (VidLA's, the import path documented before
VidLA became a family folder) still works: the names below are read from train.families.vidla on first
use, so importing the shared library does not register a family.
"""

from __future__ import annotations

_VIDLA = {  # old name -> module of train.families.vidla that holds it now
    "ModelConfig": "config",
    "PRESETS": "config",
    "tiny_cpu": "config",
    "vidla_b32": "config",
    "vidla_b16": "config",
    "meanp_b32": "config",
    "build_model": "model",
}

__all__ = sorted(_VIDLA)


def __getattr__(name: str):
    if name not in _VIDLA:
        raise AttributeError(f"module 'train.model' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"train.families.vidla.{_VIDLA[name]}"), name)
