"""EdgeNeXt (Maaz et al. 2022), E-ViLM's frame encoder, in plain torch (no timm, no torchvision).

Modules are named like timm's ``timm.models.edgenext`` so its published state dicts load by name
(``load_edgenext_weights``): a timm checkpoint file (``pytorch_model.bin`` / ``model.safetensors``, or
the authors' original release, whose keys are remapped as timm remaps them), or a Hugging Face hub id
such as ``timm/edgenext_small.usi_in1k`` resolved through the local hub cache.
Stage layout: a 4x4 patch stem, four stages (the last three start with LayerNorm + 2x2 stride-2 conv),
conv blocks with growing depth-wise kernels, and one split depth-wise transpose-attention (SDTA) block
at the end of stages 2-4; output stride 32.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class EdgeNextConfig:
    dims: tuple = (48, 96, 160, 304)  # channels of the four stages (edgenext_small)
    depths: tuple = (3, 3, 9, 3)  # blocks per stage
    global_block_counts: tuple = (0, 1, 1, 1)  # SDTA blocks at the end of each stage
    kernel_sizes: tuple = (3, 5, 7, 9)  # depth-wise kernel of the conv blocks of each stage
    heads: tuple = (8, 8, 8, 8)  # cross-covariance attention heads of each stage's SDTA blocks
    d2_scales: tuple = (2, 2, 3, 4)  # channel splits of each stage's SDTA blocks
    use_pos_emb: tuple = (False, True, False, False)  # Fourier positional encoding in the SDTA block
    expand_ratio: int = 4  # MLP width = expand_ratio * dim
    ls_init_value: float = 1e-6  # layer-scale init


def edgenext_small() -> EdgeNextConfig:
    """5.59M parameters, 1.26 GFLOPs at 256^2 (E-ViLM's choice)."""
    return EdgeNextConfig()


def edgenext_x_small() -> EdgeNextConfig:
    return EdgeNextConfig(dims=(32, 64, 100, 192), heads=(4, 4, 4, 4))


def edgenext_xx_small() -> EdgeNextConfig:
    return EdgeNextConfig(dims=(24, 48, 88, 168), depths=(2, 2, 6, 2), heads=(4, 4, 4, 4))


def edgenext_tiny_test() -> EdgeNextConfig:
    """CPU tests only: the same structure, 8-24 channels, one block per stage plus the SDTA blocks."""
    return EdgeNextConfig(dims=(8, 16, 16, 24), depths=(1, 2, 2, 2), heads=(2, 2, 2, 2))


VARIANTS = {
    "edgenext_small": edgenext_small,
    "edgenext_x_small": edgenext_x_small,
    "edgenext_xx_small": edgenext_xx_small,
}


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of (B, C, H, W)."""

    def forward(self, x):
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps).permute(
            0, 3, 1, 2
        )


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


def depthwise(dim: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim)


class ConvBlock(nn.Module):
    """Depth-wise conv, channel LayerNorm, MLP, layer scale, residual."""

    def __init__(self, dim: int, k: int, cfg: EdgeNextConfig):
        super().__init__()
        self.conv_dw = depthwise(dim, k)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, cfg.expand_ratio * dim)
        self.gamma = nn.Parameter(cfg.ls_init_value * torch.ones(dim))

    def forward(self, x_BCHW):
        y = self.mlp(self.norm(self.conv_dw(x_BCHW).permute(0, 2, 3, 1)))
        return x_BCHW + (self.gamma * y).permute(0, 3, 1, 2)


class PositionalEncodingFourier(nn.Module):
    def __init__(self, dim: int, hidden_dim: int = 32, temperature: float = 10000.0):
        super().__init__()
        self.token_projection = nn.Conv2d(hidden_dim * 2, dim, kernel_size=1)
        self.hidden_dim, self.temperature = hidden_dim, temperature

    def forward(self, B: int, H: int, W: int):
        w = self.token_projection.weight
        ones = torch.ones(B, H, W, device=w.device, dtype=w.dtype)
        y = ones.cumsum(1) / (H + 1e-6) * 2 * math.pi
        x = ones.cumsum(2) / (W + 1e-6) * 2 * math.pi
        dim_t = torch.arange(self.hidden_dim, device=w.device, dtype=w.dtype)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.hidden_dim)
        pos_x, pos_y = x[..., None] / dim_t, y[..., None] / dim_t
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        return self.token_projection(torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2))


class CrossCovarianceAttn(nn.Module):
    """XCA: attention across channels (C x C maps per head) with a learnt temperature per head."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x_BNC):
        B, N, C = x_BNC.shape
        q, k, v = self.qkv(x_BNC).reshape(B, N, 3, self.heads, -1).permute(2, 0, 3, 4, 1).unbind(0)
        attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)) * self.temperature
        return self.proj((attn.softmax(dim=-1) @ v).permute(0, 3, 1, 2).reshape(B, N, C))


class SplitTransposeBlock(nn.Module):
    """SDTA: multi-scale depth-wise convs over channel splits, XCA, MLP; layer-scaled residuals."""

    def __init__(self, dim: int, scales: int, heads: int, use_pos_emb: bool, cfg: EdgeNextConfig):
        super().__init__()
        width = max(math.ceil(dim / scales), dim // scales)
        self.convs = nn.ModuleList(depthwise(width, 3) for _ in range(max(1, scales - 1)))
        self.pos_embd = PositionalEncodingFourier(dim) if use_pos_emb else None
        self.norm_xca = nn.LayerNorm(dim, eps=1e-6)
        self.gamma_xca = nn.Parameter(cfg.ls_init_value * torch.ones(dim))
        self.xca = CrossCovarianceAttn(dim, heads)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, cfg.expand_ratio * dim)
        self.gamma = nn.Parameter(cfg.ls_init_value * torch.ones(dim))

    def forward(self, x_BCHW):
        shortcut = x_BCHW
        splits = x_BCHW.chunk(len(self.convs) + 1, dim=1)
        outs, sp = [], splits[0]
        for i, conv in enumerate(self.convs):
            sp = conv(sp if i == 0 else sp + splits[i])
            outs.append(sp)
        x = torch.cat(outs + [splits[-1]], dim=1)
        B, C, H, W = x.shape
        x = x.reshape(B, C, H * W).permute(0, 2, 1)
        if self.pos_embd is not None:
            x = x + self.pos_embd(B, H, W).reshape(B, C, H * W).permute(0, 2, 1)
        x = x + self.gamma_xca * self.xca(self.norm_xca(x))
        x = self.gamma * self.mlp(self.norm(x.reshape(B, H, W, C)))
        return shortcut + x.permute(0, 3, 1, 2)


class Stage(nn.Module):
    def __init__(self, i: int, in_dim: int, cfg: EdgeNextConfig):
        super().__init__()
        dim = cfg.dims[i]
        self.downsample = (
            nn.Sequential(LayerNorm2d(in_dim, eps=1e-6), nn.Conv2d(in_dim, dim, kernel_size=2, stride=2))
            if i > 0
            else nn.Identity()
        )
        num_conv = cfg.depths[i] - cfg.global_block_counts[i]
        self.blocks = nn.Sequential(
            *[
                ConvBlock(dim, cfg.kernel_sizes[i], cfg)
                if j < num_conv
                else SplitTransposeBlock(dim, cfg.d2_scales[i], cfg.heads[i], cfg.use_pos_emb[i], cfg)
                for j in range(cfg.depths[i])
            ]
        )

    def forward(self, x):
        return self.blocks(self.downsample(x))


class EdgeNeXt(nn.Module):
    """Frames (B, 3, H, W), ImageNet-normalised -> feature grid (B, dims[-1], H / 32, W / 32)."""

    stride = 32

    def __init__(self, cfg: EdgeNextConfig):
        super().__init__()
        self.cfg = cfg
        self.stem = nn.Sequential(
            nn.Conv2d(3, cfg.dims[0], kernel_size=4, stride=4), LayerNorm2d(cfg.dims[0], eps=1e-6)
        )
        self.stages = nn.Sequential(*[Stage(i, cfg.dims[max(0, i - 1)], cfg) for i in range(4)])
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @property
    def num_features(self) -> int:
        return self.cfg.dims[-1]

    def forward(self, x_BCHW):
        return self.stages(self.stem(x_BCHW))


def _remap_original(state: dict) -> dict:
    """The authors' release (mmaaz60/EdgeNeXt) -> timm names, as timm's checkpoint filter does."""
    for wrapper in ("model_ema", "model", "state_dict"):
        if wrapper in state and isinstance(state[wrapper], dict):
            state = state[wrapper]
            break
    if "stem.0.weight" in state:
        return state
    out = {}
    for k, v in state.items():
        k = k.replace("downsample_layers.0.", "stem.")
        k = re.sub(r"stages\.([0-9]+)\.([0-9]+)", r"stages.\1.blocks.\2", k)
        k = re.sub(r"downsample_layers\.([0-9]+)\.([0-9]+)", r"stages.\1.downsample.\2", k)
        out[k.replace("dwconv", "conv_dw").replace("pwconv", "mlp.fc")] = v
    return out


def _read_state(source: str) -> dict:
    path = Path(source)
    if not path.exists():
        if "/" not in source or source.startswith((".", "/")):
            raise ValueError(
                f"EdgeNeXt weights not found: {source} (a file, or a hub id like timm/edgenext_small.usi_in1k)"
            )
        try:  # a hub id, resolved through the local Hugging Face cache (or the hub when online)
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, "model.safetensors"))
        except Exception as exc:
            raise ValueError(f"cannot fetch EdgeNeXt weights {source!r}: {exc}") from exc
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def load_edgenext_weights(model: EdgeNeXt, source: str) -> dict:
    """Load a published EdgeNeXt checkpoint into ``model`` (the classifier head is not used and is
    dropped). Returns {"loaded": n, "skipped": [names]}; a shape or name mismatch of the backbone fails."""
    state = _remap_original(_read_state(source))
    own = model.state_dict()
    backbone = {k: v for k, v in state.items() if not k.startswith(("head.", "norm_pre."))}
    for k, v in backbone.items():
        if k in own and v.ndim == 2 and own[k].ndim == 4:  # original release stores 1x1 convs as linears
            backbone[k] = v.reshape(own[k].shape)
    missing = sorted(set(own) - set(backbone))
    unexpected = sorted(set(backbone) - set(own))
    bad_shapes = [k for k in set(own) & set(backbone) if own[k].shape != backbone[k].shape]
    if missing or unexpected or bad_shapes:
        raise ValueError(
            f"EdgeNeXt weights {source} do not match the {model.cfg.dims} model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shapes {bad_shapes[:3]}"
        )
    model.load_state_dict(backbone)
    return {"loaded": len(backbone), "skipped": sorted(set(state) - set(backbone))}
