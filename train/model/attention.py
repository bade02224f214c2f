"""VidLA hierarchical temporal attention (section 4), computed without any dense (1+UV+TN)^2 mask.

Token order in a clip's sequence (as in the paper): [CLS], then U*V [MST] level-major (V tokens of level 0,
then level 1, ...), then T*N patch tokens frame-major. The masks being implemented (checked against a
dense-mask reference in tests/train/dense_reference.py):

- spatially-local temporal attention (patches only): patch (t, n) attends to patches (t', n) for every t';
- global spatio-temporal attention:
  - [CLS] attends to every token, itself included;
  - [MST] of level u attends to the [MST] of levels <= u and to the patches of frames t with t mod r**u == 0;
  - a patch of frame t attends to every [MST] and to the patches of frame t;
  - nothing but [CLS] attends to [CLS].

Each query group becomes its own F.scaled_dot_product_attention call over exactly its allowed keys, so
flash / memory-efficient kernels apply and no mask is materialised.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class TokenLayout:
    """How a video token sequence of length 1 + U*V + T*N is laid out."""

    num_frames: int  # T
    num_patches: int  # N per frame (after tube masking)
    num_levels: int  # U; 0 without [MST]
    tokens_per_level: int  # V; 0 without [MST]
    temporal_scale: int  # r

    @property
    def num_mst(self) -> int:
        return self.num_levels * self.tokens_per_level

    @property
    def num_tokens(self) -> int:
        return 1 + self.num_mst + self.num_frames * self.num_patches

    def level_frames(self, level: int) -> range:
        """Frames whose patches the [MST] of `level` attend to: t mod r**level == 0."""
        return range(0, self.num_frames, self.temporal_scale ** level)


def attend(q_BSHd: torch.Tensor, k_BKHd: torch.Tensor, v_BKHd: torch.Tensor) -> torch.Tensor:
    """Unmasked multi-head attention on (..., seq, heads, head_dim) tensors; returns (..., S, H, hd)."""
    out_BHSd = F.scaled_dot_product_attention(
        q_BSHd.transpose(-3, -2), k_BKHd.transpose(-3, -2), v_BKHd.transpose(-3, -2))
    return out_BHSd.transpose(-3, -2)


def local_temporal_attention(q_BTNHd: torch.Tensor, k_BTNHd: torch.Tensor, v_BTNHd: torch.Tensor) -> torch.Tensor:
    """Each patch attends to the patches at its spatial position in every frame. Returns (B, T, N, H, hd)."""
    B, T, N, H, hd = q_BTNHd.shape

    def by_position(x_BTNHd: torch.Tensor) -> torch.Tensor:  # (B*N, T, H, hd)
        return x_BTNHd.transpose(1, 2).reshape(B * N, T, H, hd)

    out_BNTHd = attend(by_position(q_BTNHd), by_position(k_BTNHd), by_position(v_BTNHd)).view(B, N, T, H, hd)
    return out_BNTHd.transpose(1, 2)


def global_spatiotemporal_attention(
    q_BLHd: torch.Tensor, k_BLHd: torch.Tensor, v_BLHd: torch.Tensor, layout: TokenLayout
) -> torch.Tensor:
    """VidLA's asymmetric global attention over [CLS, MST, patches]; (B, L, H, hd) in and out."""
    B, L, H, hd = q_BLHd.shape
    T, N, M, V = layout.num_frames, layout.num_patches, layout.num_mst, layout.tokens_per_level
    assert L == layout.num_tokens, (L, layout)
    first_patch = 1 + M

    out_cls_B1Hd = attend(q_BLHd[:, :1], k_BLHd, v_BLHd)

    k_mst_BMHd, v_mst_BMHd = k_BLHd[:, 1:first_patch], v_BLHd[:, 1:first_patch]
    k_patch_BTNHd = k_BLHd[:, first_patch:].view(B, T, N, H, hd)
    v_patch_BTNHd = v_BLHd[:, first_patch:].view(B, T, N, H, hd)

    def frame_keys(mst_BMHd: torch.Tensor, patch_BTNHd: torch.Tensor) -> torch.Tensor:  # (B*T, M+N, H, hd)
        if M == 0:
            return patch_BTNHd.reshape(B * T, N, H, hd)
        mst_BTMHd = mst_BMHd.unsqueeze(1).expand(B, T, M, H, hd)
        return torch.cat([mst_BTMHd, patch_BTNHd], dim=2).view(B * T, M + N, H, hd)

    q_patch = q_BLHd[:, first_patch:].reshape(B * T, N, H, hd)
    out_patch = attend(q_patch, frame_keys(k_mst_BMHd, k_patch_BTNHd), frame_keys(v_mst_BMHd, v_patch_BTNHd))
    outs = [out_cls_B1Hd]

    for level in range(layout.num_levels):
        stride = layout.temporal_scale ** level
        num_visible_mst = (level + 1) * V

        def level_keys(mst_BMHd: torch.Tensor, patch_BTNHd: torch.Tensor) -> torch.Tensor:
            strided = patch_BTNHd[:, ::stride].reshape(B, -1, H, hd)
            return torch.cat([mst_BMHd[:, :num_visible_mst], strided], dim=1)

        q_level = q_BLHd[:, 1 + level * V: 1 + (level + 1) * V]
        outs.append(attend(q_level, level_keys(k_mst_BMHd, k_patch_BTNHd), level_keys(v_mst_BMHd, v_patch_BTNHd)))

    outs.append(out_patch.view(B, T * N, H, hd))
    return torch.cat(outs, dim=1)
