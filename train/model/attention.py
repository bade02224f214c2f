"""VidLA hierarchical temporal attention (section 4), computed without any dense (1+UV+TN)^2 mask.

Token order in a clip's sequence (as in the paper): [CLS], then U*V [MST] level-major (V tokens of level 0,
then level 1, ...), then T*N patch tokens frame-major. The masks being implemented (checked against a
dense-mask reference in tests/train/test_attention.py):

- spatially-local temporal attention (patches only): patch (t, n) attends to patches (t', n) for every t';
- global spatio-temporal attention:
  - [CLS] attends to every token, itself included;
  - [MST] of level u attends to the [MST] of levels <= u and to the patches of frames t with t mod r**u == 0
    (with ``reference_frames`` set: the frames nearest to those moments, see TokenLayout);
  - a patch of frame t attends to every [MST] and to the patches of frame t;
  - nothing but [CLS] attends to [CLS].

No (1+UV+TN)^2 mask is ever built: patches attend frame by frame (a batch of B*T unmasked attentions
over [own frame patches + MST]), local temporal attention is a batch of B*N*H unmasked attentions over T,
and only the 1+UV global-token query rows use a (1+UV) x L boolean mask. The large attentions go through
F.scaled_dot_product_attention, so flash / memory-efficient kernels apply on GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

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
    # frames the strides r**u count in (0: num_frames). A model pretrained on 12 frames and run on 32
    # keeps 12: level u then attends the frames nearest to every r**u-th of 12 evenly spaced moments,
    # the same moments of the clip it learned to summarise
    reference_frames: int = 0

    def level_frames(self, device: torch.device) -> torch.Tensor:
        """(U, T) bool: the frames whose patches the [MST] of each level attend to: level 0 every frame;
        level u >= 1 frames k * r**u of ``reference_frames`` evenly spaced ones, mapped to the nearest of
        this clip's T (by frame centre: frames are sampled at the centres of equal segments)."""
        T, reference = self.num_frames, self.reference_frames or self.num_frames
        frames_UT = torch.zeros(self.num_levels, T, dtype=torch.bool)
        for u in range(self.num_levels):
            stride = self.temporal_scale**u
            if stride == 1:
                frames_UT[u] = True
                continue
            for k in range(0, reference, stride):
                frames_UT[u, min(T - 1, max(0, round((k + 0.5) * T / reference - 0.5)))] = True
        return frames_UT.to(device)

    @property
    def num_mst(self) -> int:
        return self.num_levels * self.tokens_per_level

    @property
    def num_tokens(self) -> int:
        return 1 + self.num_mst + self.num_frames * self.num_patches


def attend(
    q_BSHd: torch.Tensor, k_BKHd: torch.Tensor, v_BKHd: torch.Tensor, mask_SK: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Multi-head attention on (..., seq, heads, head_dim) tensors; returns (..., S, H, hd).
    `mask_SK` (bool, True = may attend) broadcasts to (..., H, S, K)."""
    out_BHSd = F.scaled_dot_product_attention(
        q_BSHd.transpose(-3, -2), k_BKHd.transpose(-3, -2), v_BKHd.transpose(-3, -2), attn_mask=mask_SK
    )
    return out_BHSd.transpose(-3, -2)


def local_temporal_attention(q_BTNHd: torch.Tensor, k_BTNHd: torch.Tensor, v_BTNHd: torch.Tensor) -> torch.Tensor:
    """Each patch attends to the patches at its spatial position in every frame. Returns (B, T, N, H, hd).

    T is short (12 to 32), so the (B, N, H, T, T) scores are small. On CUDA plain batched matmuls beat the
    fused kernels, which tile queries in blocks of 64 to 128 and would mostly compute padding; on CPU the
    fused SDPA kernel is the faster one (benchmarks/bench_attention.py, cases local-*)."""
    if q_BTNHd.is_cuda:
        return local_temporal_attention_matmul(q_BTNHd, k_BTNHd, v_BTNHd)
    return local_temporal_attention_sdpa(q_BTNHd, k_BTNHd, v_BTNHd)


def local_temporal_attention_sdpa(q_BTNHd, k_BTNHd, v_BTNHd) -> torch.Tensor:
    B, T, N, H, hd = q_BTNHd.shape

    def by_position(x_BTNHd: torch.Tensor) -> torch.Tensor:  # (B*N, T, H, hd)
        return x_BTNHd.transpose(1, 2).reshape(B * N, T, H, hd)

    out_BNTHd = attend(by_position(q_BTNHd), by_position(k_BTNHd), by_position(v_BTNHd)).view(B, N, T, H, hd)
    return out_BNTHd.transpose(1, 2)


def local_temporal_attention_matmul(q_BTNHd, k_BTNHd, v_BTNHd) -> torch.Tensor:
    hd = q_BTNHd.shape[-1]

    def by_position(x_BTNHd: torch.Tensor) -> torch.Tensor:  # (B, N, H, T, hd)
        return x_BTNHd.permute(0, 2, 3, 1, 4)

    scores_BNHTT = by_position(q_BTNHd) @ by_position(k_BTNHd).transpose(-1, -2) * hd**-0.5
    out_BNHTd = scores_BNHTT.softmax(dim=-1).to(v_BTNHd.dtype) @ by_position(v_BTNHd)
    return out_BNHTd.permute(0, 3, 1, 2, 4)


def global_token_mask(layout: TokenLayout, device: torch.device) -> torch.Tensor:
    """(1 + UV, L) bool: which keys [CLS] (row 0) and each [MST] (level-major rows) attend to."""
    V, N, M = layout.tokens_per_level, layout.num_patches, layout.num_mst
    key = torch.arange(layout.num_tokens, device=device)
    level_M = torch.arange(M, device=device) // max(V, 1)  # level of each [MST] row
    key_level = (key - 1) // max(V, 1)  # level of each [MST] key
    frame = (key - 1 - M) // N  # frame of each patch key
    is_mst_key = (key >= 1) & (key < 1 + M)
    is_patch_key = key >= 1 + M
    frames_UT = layout.level_frames(device)
    sees_frame_ML = frames_UT[level_M][:, frame.clamp(0, layout.num_frames - 1)]
    mst_rows = (is_mst_key & (key_level[None, :] <= level_M[:, None])) | (is_patch_key & sees_frame_ML)
    cls_row = torch.ones(1, layout.num_tokens, dtype=torch.bool, device=device)
    return torch.cat([cls_row, mst_rows], dim=0)


def global_spatiotemporal_attention(
    q_BLHd: torch.Tensor, k_BLHd: torch.Tensor, v_BLHd: torch.Tensor, layout: TokenLayout
) -> torch.Tensor:
    """VidLA's asymmetric global attention over [CLS, MST, patches]; (B, L, H, hd) in and out.

    [CLS] and [MST] (1 + UV queries) attend in one call under their (1 + UV) x L rows of the mask; the
    T*N patch queries attend frame by frame (batch B*T) to [own frame patches + every MST], unmasked."""
    B, L, H, hd = q_BLHd.shape
    T, N, M = layout.num_frames, layout.num_patches, layout.num_mst
    assert L == layout.num_tokens, (L, layout)
    # split once (not repeated slicing): one cheap backward instead of a full-size zero-fill per slice
    q_global, q_patch = q_BLHd.split([1 + M, T * N], dim=1)
    _, k_mst, k_patch = k_BLHd.split([1, M, T * N], dim=1)
    _, v_mst, v_patch = v_BLHd.split([1, M, T * N], dim=1)

    out_global = attend(q_global, k_BLHd, v_BLHd, global_token_mask(layout, q_BLHd.device))

    def frame_keys(mst_BMHd: torch.Tensor, patch_BPHd: torch.Tensor) -> torch.Tensor:  # (B*T, M+N, H, hd)
        patch_BTNHd = patch_BPHd.view(B, T, N, H, hd)
        if M == 0:
            return patch_BTNHd.reshape(B * T, N, H, hd)
        mst_BTMHd = mst_BMHd.unsqueeze(1).expand(B, T, M, H, hd)
        return torch.cat([mst_BTMHd, patch_BTNHd], dim=2).view(B * T, M + N, H, hd)

    out_patch = attend(q_patch.reshape(B * T, N, H, hd), frame_keys(k_mst, k_patch), frame_keys(v_mst, v_patch))
    return torch.cat([out_global, out_patch.view(B, T * N, H, hd)], dim=1)
