"""Transformer building blocks named like transformers' CLIP modules, so CLIP checkpoints load by name."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attention import TokenLayout, attend, global_spatiotemporal_attention, local_temporal_attention


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


ACTIVATIONS = {"quick_gelu": quick_gelu, "gelu": F.gelu}


class MultiHeadProjections(nn.Module):
    """q/k/v/out projections of one attention (CLIP's `self_attn`); the attention pattern is the caller's."""

    def __init__(self, width: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def qkv(self, x_BLD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Three (..., L, H, hd) tensors from one fused matmul."""
        weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
        bias = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
        qkv = F.linear(x_BLD, weight, bias).unflatten(-1, (3, self.num_heads, -1))
        return qkv.unbind(dim=-3)


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.act = ACTIVATIONS[act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TransformerLayer(nn.Module):
    """CLIP's pre-LN layer. With `temporal=True` it becomes a VidLA layer (section 4, equations 1-2):
    spatially-local temporal attention over patches (zero-initialised output projection), then the
    asymmetric global spatio-temporal attention, then the MLP."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: float, act: str, eps: float, temporal: bool = False):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.self_attn = MultiHeadProjections(width, num_heads)
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = MLP(width, int(width * mlp_ratio), act)
        self.temporal_norm: Optional[nn.LayerNorm] = None
        self.temporal_attn: Optional[MultiHeadProjections] = None
        if temporal:
            self.temporal_norm = nn.LayerNorm(width, eps=eps)
            self.temporal_attn = MultiHeadProjections(width, num_heads)
            # VidLA section 5: zero-init, so at init the temporal branch adds nothing to the patches
            nn.init.zeros_(self.temporal_attn.out_proj.weight)
            nn.init.zeros_(self.temporal_attn.out_proj.bias)

    def forward(self, x_BLD: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Plain layer: full attention (frame-wise CLIP), or text with a boolean (B, 1, L, L) mask."""
        q, k, v = self.self_attn.qkv(self.layer_norm1(x_BLD))
        out_BLHd = attend(q, k, v, attn_mask)
        x_BLD = x_BLD + self.self_attn.out_proj(out_BLHd.flatten(-2))
        return x_BLD + self.mlp(self.layer_norm2(x_BLD))

    def forward_video(self, x_BLD: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        """VidLA layer over a [CLS, MST, patches] sequence of `layout`."""
        first_patch = 1 + layout.num_mst
        if self.temporal_attn is not None:
            B, T, N = x_BLD.shape[0], layout.num_frames, layout.num_patches
            global_BGD, patches_BPD = x_BLD.split([first_patch, T * N], dim=1)
            patches_BTND = patches_BPD.unflatten(1, (T, N))
            q, k, v = self.temporal_attn.qkv(self.temporal_norm(patches_BTND))
            temporal_BTND = self.temporal_attn.out_proj(local_temporal_attention(q, k, v).flatten(-2))
            x_BLD = torch.cat([global_BGD, (patches_BTND + temporal_BTND).view(B, T * N, -1)], dim=1)
        q, k, v = self.self_attn.qkv(self.layer_norm1(x_BLD))
        out_BLHd = global_spatiotemporal_attention(q, k, v, layout)
        x_BLD = x_BLD + self.self_attn.out_proj(out_BLHd.flatten(-2))
        return x_BLD + self.mlp(self.layer_norm2(x_BLD))


class Encoder(nn.Module):
    """CLIP's `encoder`: a stack of layers, optionally recomputed in backward (gradient checkpointing)."""

    def __init__(self, num_layers: int, grad_checkpointing: bool, **layer_kwargs):
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(**layer_kwargs) for _ in range(num_layers))
        self.grad_checkpointing = grad_checkpointing

    def _run(self, fn, *args):
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def forward(self, x_BLD: torch.Tensor, attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        for layer in self.layers:
            x_BLD = self._run(layer, x_BLD, attn_mask)
        return x_BLD

    def forward_video(self, x_BLD: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
        for layer in self.layers:
            x_BLD = self._run(layer.forward_video, x_BLD, layout)
        return x_BLD
