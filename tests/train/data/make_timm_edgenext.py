"""Writes timm_edgenext_tiny.safetensors: an EdgeNeXt built by timm itself (timm 1.0.31, timm.models.edgenext)
at the sizes of ``edgenext_tiny_test``, with random weights, an input and timm's ``forward_features``
of it, so that tests/train/test_evilm.py compares the project's EdgeNeXt with an independent
implementation without timm installed (timm needs torchvision, which the CPU torch here cannot import).

    pip install timm==1.0.31 && python tests/train/data/make_timm_edgenext.py
"""

from pathlib import Path

import timm
import torch
from safetensors.torch import save_file
from timm.models.edgenext import EdgeNeXt

SIZES = dict(dims=(8, 16, 16, 24), depths=(1, 2, 2, 2), heads=(2, 2, 2, 2))  # edgenext_tiny_test


def main() -> None:
    torch.manual_seed(0)
    model = EdgeNeXt(**SIZES, num_classes=10).eval()  # a small head: it is dropped on load
    with torch.no_grad():  # every tensor random, so that layer scales and norms all matter
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    x = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        features = model.forward_features(x)
    tensors = {f"state.{k}": v.contiguous() for k, v in model.state_dict().items()}
    save_file(
        {**tensors, "input": x, "features": features.contiguous()},
        str(Path(__file__).with_name("timm_edgenext_tiny.safetensors")),
        metadata={"timm_version": timm.__version__, "sizes": repr(SIZES)},
    )


if __name__ == "__main__":
    main()
