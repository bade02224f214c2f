"""HD-VILA's hybrid video encoder (section 4.1, figure 3a).

Per segment: one HR frame X_t and 2N LR neighbours X_{t+kr}.
- LR encoder F_lr: stages 1-3 of a ResNet-50 on each LR frame (stride 16 on an H/4 x W/4 frame), a
  1x1 convolution to the hybrid width (+ GELU);
- HR encoder: a 4-stage ResNet-50 F_hr on the HR frame; its adapter D_hr (1x1 convolution to the
  width, 2x2 max-pool, GELU) gives V_hr = D_hr(F_hr(X_t));
- HR reference for the hybrid Transformer: phi(F_hr^3(X_t)), the HR stage-3 map interpolated to the
  LR grid (area interpolation: 4x4 averages), projected by the same 1x1 convolution as the LR maps so
  all 2N + 1 frames live in one space;
- hybrid Transformer T_hy over [LR_-N..LR_-1, HR, LR_1..LR_N] with divided space-time attention
  (temporal attention across the frames at each grid cell, then spatial attention within each
  frame); V_hy is its output at the HR frame;
- the segment feature V = Linear([V_hr, V_hy]) at every grid cell (a 1x1 convolution, + GELU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import HDVILAConfig
from .resnet import ResNet, run

# ImageNet statistics: the ResNet-50 weights were trained with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_imagenet(frames_uint8: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float normalised with ImageNet's mean/std, on the frames' device."""
    mean = torch.tensor(IMAGENET_MEAN, device=frames_uint8.device, dtype=dtype).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=frames_uint8.device, dtype=dtype).view(3, 1, 1)
    return (frames_uint8.to(dtype) / 255.0 - mean) / std


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.num_heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x_BLD: torch.Tensor) -> torch.Tensor:
        B, L, D = x_BLD.shape
        q, k, v = self.qkv(x_BLD).view(B, L, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, L, D))


class DividedSpaceTimeBlock(nn.Module):
    """TimeSformer's divided attention block (pre-LayerNorm): time, then space, then the MLP."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.temporal_norm = nn.LayerNorm(width)
        self.temporal_attn = Attention(width, heads)
        self.spatial_norm = nn.LayerNorm(width)
        self.spatial_attn = Attention(width, heads)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x_BTND: torch.Tensor) -> torch.Tensor:
        B, T, N, D = x_BTND.shape
        x_BNTD = x_BTND.transpose(1, 2).reshape(B * N, T, D)
        x_BNTD = x_BNTD + self.temporal_attn(self.temporal_norm(x_BNTD))
        x_BTND = x_BNTD.view(B, N, T, D).transpose(1, 2).reshape(B * T, N, D)
        x_BTND = x_BTND + self.spatial_attn(self.spatial_norm(x_BTND))
        x_BTND = x_BTND + self.mlp(self.mlp_norm(x_BTND))
        return x_BTND.view(B, T, N, D)


class HybridTransformer(nn.Module):
    """T_hy: learnable spatial (per grid cell) and temporal (per frame) position embeddings, divided
    space-time blocks, a final LayerNorm."""

    def __init__(self, cfg: HDVILAConfig):
        super().__init__()
        h, w = cfg.grid_size
        self.spatial_embedding = nn.Parameter(torch.randn(h * w, cfg.hidden_size) * 0.02)
        self.temporal_embedding = nn.Parameter(torch.zeros(cfg.frames_per_segment, cfg.hidden_size))
        self.blocks = nn.ModuleList(
            DividedSpaceTimeBlock(cfg.hidden_size, cfg.hybrid_heads) for _ in range(cfg.hybrid_layers)
        )
        self.norm = nn.LayerNorm(cfg.hidden_size)
        self.grad_checkpointing = cfg.grad_checkpointing

    def forward(self, x_BTND: torch.Tensor) -> torch.Tensor:
        x_BTND = x_BTND + self.spatial_embedding[None, None] + self.temporal_embedding[None, :, None]
        for block in self.blocks:
            x_BTND = run(block, x_BTND, recompute=self.grad_checkpointing and self.training)
        return self.norm(x_BTND)


class HybridVideoEncoder(nn.Module):
    """(HR frames, LR frames) of B x S segments -> segment features (B, S, h, w, D)."""

    def __init__(self, cfg: HDVILAConfig):
        super().__init__()
        self.cfg = cfg
        sizes, depths, emb = cfg.resnet_hidden_sizes, cfg.resnet_depths, cfg.resnet_embedding_size
        self.hr_resnet = ResNet(emb, sizes, depths, num_stages=4, norm_eval=cfg.resnet_norm_eval)
        self.lr_resnet = ResNet(emb, sizes, depths, num_stages=3, norm_eval=cfg.resnet_norm_eval)
        self.hr_resnet.grad_checkpointing = self.lr_resnet.grad_checkpointing = cfg.grad_checkpointing
        D = cfg.hidden_size
        # D_hr: channels of stage 4 -> D, then 2x2 max-pool to the LR grid
        self.hr_adapter = nn.Sequential(nn.Conv2d(sizes[3], D, 1, bias=False), nn.MaxPool2d(2), nn.GELU())
        # stage-3 maps of the LR frames and of the HR frame -> D (one projection: one space)
        self.lr_projection = nn.Sequential(nn.Conv2d(sizes[2], D, 1, bias=False), nn.GELU())
        self.hybrid = HybridTransformer(cfg)
        # Linear([V_hr, V_hy]) at every grid cell
        self.fuse = nn.Sequential(nn.Conv2d(2 * D, D, 1, bias=False), nn.GELU())

    def forward(self, hr_BSCHW: torch.Tensor, lr_BSKCHW: torch.Tensor) -> torch.Tensor:
        """``hr_BSCHW``: (B, S, 3, H, W), ``lr_BSKCHW``: (B, S, 2N, 3, H/4, W/4), normalised with
        ``normalize_imagenet`` (the family's ``video_inputs``). Returns (B, S, h, w, D)."""
        cfg = self.cfg
        B, S = hr_BSCHW.shape[:2]
        K = lr_BSKCHW.shape[2]
        if tuple(hr_BSCHW.shape[2:]) != (3, *cfg.hr_size) or tuple(lr_BSKCHW.shape[3:]) != (3, *cfg.lr_size):
            raise ValueError(
                f"expected HR frames (B, S, 3, {cfg.hr_size[0]}, {cfg.hr_size[1]}) and LR frames "
                f"(B, S, {2 * cfg.num_neighbours}, 3, {cfg.lr_size[0]}, {cfg.lr_size[1]}); got "
                f"{tuple(hr_BSCHW.shape)} and {tuple(lr_BSKCHW.shape)}"
            )
        if lr_BSKCHW.shape[:3] != (B, S, 2 * cfg.num_neighbours):
            raise ValueError(f"LR frames {tuple(lr_BSKCHW.shape)} do not match {B} clips x {S} segments")
        h, w = cfg.grid_size

        hr_stages = self.hr_resnet(hr_BSCHW.flatten(0, 1))
        v_hr_BDhw = self.hr_adapter(hr_stages[3])  # (B*S, D, h, w)
        hr_ref_BDhw = self.lr_projection(F.interpolate(hr_stages[2], size=(h, w), mode="area"))
        lr_BDhw = self.lr_projection(self.lr_resnet(lr_BSKCHW.flatten(0, 2))[2])  # (B*S*2N, D, h, w)

        D = cfg.hidden_size
        lr_BKND = lr_BDhw.view(B * S, K, D, h * w).transpose(2, 3)
        hr_B1ND = hr_ref_BDhw.view(B * S, 1, D, h * w).transpose(2, 3)
        half = K // 2
        sequence_BTND = torch.cat([lr_BKND[:, :half], hr_B1ND, lr_BKND[:, half:]], dim=1)
        v_hy_BND = self.hybrid(sequence_BTND)[:, half]  # output at the HR frame
        v_hy_BDhw = v_hy_BND.transpose(1, 2).reshape(B * S, D, h, w)
        fused_BDhw = self.fuse(torch.cat([v_hr_BDhw, v_hy_BDhw], dim=1))
        return fused_BDhw.view(B, S, D, h, w).permute(0, 1, 3, 4, 2)
