"""Video tokenizers: frames in, a grid of code indices out (VIMPAC's masked token prediction targets).

``VQTokenizer`` is the interface every tokenizer meets: ``encode(frames_BTCHW)`` with frames as floats
in [0, 1] returns ``codes_BThw`` (long, ``h = H / downsample``), ``num_codes`` is the codebook size.

``DalleTokenizer`` is DALL-E's dVAE encoder (Ramesh et al. 2021), the frozen tokenizer VIMPAC uses
(8192 codes, 8x down-sampling). Its modules are laid out and named exactly like OpenAI's
``dall_e.encoder.Encoder``, so the original encoder's state dict (``Encoder().state_dict()``, or the
published ``encoder.pkl`` re-saved as a state dict) loads by name with ``load_dalle_encoder``.

Codes are computed on the fly inside the model, or once into the shards
(``python -m train.families.vimpac.precompute``); benchmarks/bench_vq.py measures both (on a CPU the
full dVAE costs about as much as the VIMPAC-small step it feeds, see the README).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

LOGIT_LAPLACE_EPS = 0.1  # DALL-E's pixel mapping: x in [0, 1] -> (1 - 2 eps) x + eps


class VQTokenizer(Protocol):
    num_codes: int  # codebook size M; codes lie in [0, M)
    downsample: int  # pixels per code along each side

    def encode(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) floats in [0, 1] -> (B, T, H / downsample, W / downsample) long codes."""
        ...


class DalleConv2d(nn.Module):
    """dall_e.utils.Conv2d: parameters ``w`` (out, in, k, k) and ``b``, 'same' padding."""

    def __init__(self, n_in: int, n_out: int, kw: int):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_out, n_in, kw, kw) / (n_in * kw**2) ** 0.5)
        self.b = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.w, self.b, padding=(self.w.shape[-1] - 1) // 2)


class DalleEncoderBlock(nn.Module):
    """dall_e.encoder.EncoderBlock: identity (or 1x1 conv) path + (1 / n_layers**2) x a 4-conv path."""

    def __init__(self, n_in: int, n_out: int, n_layers: int):
        super().__init__()
        n_hid = n_out // 4
        self.post_gain = 1 / n_layers**2
        self.id_path = DalleConv2d(n_in, n_out, 1) if n_in != n_out else nn.Identity()
        self.res_path = nn.Sequential(
            OrderedDict(
                [
                    ("relu_1", nn.ReLU()),
                    ("conv_1", DalleConv2d(n_in, n_hid, 3)),
                    ("relu_2", nn.ReLU()),
                    ("conv_2", DalleConv2d(n_hid, n_hid, 3)),
                    ("relu_3", nn.ReLU()),
                    ("conv_3", DalleConv2d(n_hid, n_hid, 3)),
                    ("relu_4", nn.ReLU()),
                    ("conv_4", DalleConv2d(n_hid, n_out, 1)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.id_path(x) + self.post_gain * self.res_path(x)


class DalleEncoder(nn.Module):
    """dall_e.encoder.Encoder: a 7x7 input conv, 4 groups of residual blocks (widths n_hid x 1, 2, 4, 8;
    max-pool after the first three: 8x down-sampling), a ReLU and a 1x1 conv to the code logits."""

    def __init__(self, n_hid: int = 256, n_blk_per_group: int = 2, vocab_size: int = 8192):
        super().__init__()
        self.vocab_size = vocab_size
        n_layers = 4 * n_blk_per_group
        widths = [n_hid, n_hid, 2 * n_hid, 4 * n_hid, 8 * n_hid]  # input of group g is widths[g - 1]

        def group(g: int, pool: bool) -> nn.Sequential:
            blocks = [
                (f"block_{i + 1}", DalleEncoderBlock(widths[g - 1] if i == 0 else widths[g], widths[g], n_layers))
                for i in range(n_blk_per_group)
            ]
            return nn.Sequential(OrderedDict(blocks + ([("pool", nn.MaxPool2d(kernel_size=2))] if pool else [])))

        self.blocks = nn.Sequential(
            OrderedDict(
                [
                    ("input", DalleConv2d(3, n_hid, 7)),
                    ("group_1", group(1, True)),
                    ("group_2", group(2, True)),
                    ("group_3", group(3, True)),
                    ("group_4", group(4, False)),
                    (
                        "output",
                        nn.Sequential(
                            OrderedDict([("relu", nn.ReLU()), ("conv", DalleConv2d(8 * n_hid, vocab_size, 1))])
                        ),
                    ),
                ]
            )
        )

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        """Mapped pixels (B, 3, H, W) -> code logits (B, vocab_size, H / 8, W / 8)."""
        return self.blocks(x_BCHW)


class DalleTokenizer(nn.Module):
    """The frozen dVAE encoder as a ``VQTokenizer``: argmax of the code logits of each frame."""

    downsample = 8

    def __init__(self, encoder: DalleEncoder):
        super().__init__()
        self.encoder = encoder.requires_grad_(False).eval()
        self.num_codes = encoder.vocab_size

    def train(self, mode: bool = True) -> "DalleTokenizer":
        return super().train(False)  # frozen: always in eval mode

    @torch.no_grad()
    def encode(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        B, T, C, H, W = frames_BTCHW.shape
        if C != 3 or H % self.downsample or W % self.downsample:
            raise ValueError(f"frames {tuple(frames_BTCHW.shape)}: need 3 channels and sides divisible by 8")
        x = (1 - 2 * LOGIT_LAPLACE_EPS) * frames_BTCHW.flatten(0, 1).float() + LOGIT_LAPLACE_EPS
        return self.encoder(x).argmax(dim=1).unflatten(0, (B, T))


def dalle_encoder_config(state_dict: dict) -> dict:
    """(n_hid, n_blk_per_group, vocab_size) of an encoder state dict in dall_e's layout."""
    try:
        n_hid = state_dict["blocks.input.w"].shape[0]
        vocab_size = state_dict["blocks.output.conv.w"].shape[0]
    except KeyError as exc:
        raise ValueError(f"not a DALL-E encoder state dict: no {exc.args[0]}") from exc
    blocks = {k.split(".")[2] for k in state_dict if k.startswith("blocks.group_1.block_")}
    return {"n_hid": n_hid, "n_blk_per_group": len(blocks), "vocab_size": vocab_size}


def load_dalle_encoder(path) -> DalleEncoder:
    """The encoder saved at ``path``: a state dict in dall_e's layout (any size), or a pickled module
    whose ``state_dict()`` is one (OpenAI's encoder.pkl, which needs the dall_e package to unpickle)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"DALL-E encoder weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a pickled nn.Module, not a plain state dict
        state = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a DALL-E encoder state dict")
    encoder = DalleEncoder(**dalle_encoder_config(state))
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: state dict does not match DALL-E's encoder: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return encoder
