"""Masking strategies over grids of video tokens (beside VidLA's tube masking in train.model.towers).

- ``block_mask_3d``: VIMPAC's 3-D block masking (section 3.1, appendix B.1): the union of
  ``num_blocks`` random cuboids; block lengths uniform in [1, 2T/3] frames (rounded down as in the
  authors' code), [1, H/2] rows and [1, W/2] columns. ``expected_block_mask_ratio`` gives the exact
  expected masked fraction (VIMPAC table 9).
- ``blockwise_mask_2d``: BEiT's blockwise masking (BEiT section 2.5), which E-ViLM uses at 40% on every
  frame: rectangles of random area and aspect ratio are added until the target count is reached.

Both draw from torch's global RNG (or ``generator``), which the trainer checkpoints, so a resumed
run masks exactly as the uninterrupted one.
"""

from __future__ import annotations

import math
from typing import Optional

import torch


def _block_lengths_max(T: int, H: int, W: int) -> tuple:
    return max(1, T * 2 // 3), max(1, H // 2), max(1, W // 2)


def block_mask_3d(
    batch_size: int,
    T: int,
    H: int,
    W: int,
    num_blocks: int,
    generator: Optional[torch.Generator] = None,
    device=None,
) -> torch.Tensor:
    """(B, T, H, W) bool, True where a token is masked: the union of ``num_blocks`` cuboids per sample."""
    if min(batch_size, T, H, W) < 1 or num_blocks < 0:
        raise ValueError(f"bad block mask request: B={batch_size} T={T} H={H} W={W} blocks={num_blocks}")
    if num_blocks == 0:
        return torch.zeros(batch_size, T, H, W, dtype=torch.bool, device=device)
    sizes = torch.tensor([T, H, W], device=device)
    max_len_3 = torch.tensor(_block_lengths_max(T, H, W), device=device)
    u_BK3 = torch.rand(batch_size, num_blocks, 3, generator=generator, device=device)
    length_BK3 = (u_BK3 * max_len_3).long() + 1  # uniform in 1..max_len
    v_BK3 = torch.rand(batch_size, num_blocks, 3, generator=generator, device=device)
    start_BK3 = (v_BK3 * (sizes - length_BK3 + 1)).long()  # uniform in 0..size-len
    end_BK3 = start_BK3 + length_BK3

    def inside(axis: int, n: int) -> torch.Tensor:  # (B, K, n): position within the block along axis
        pos = torch.arange(n, device=device)
        return (pos >= start_BK3[..., axis, None]) & (pos < end_BK3[..., axis, None])

    t_BKT, h_BKH, w_BKW = inside(0, T), inside(1, H), inside(2, W)
    cube_BKTHW = t_BKT[..., :, None, None] & h_BKH[..., None, :, None] & w_BKW[..., None, None, :]
    return cube_BKTHW.any(dim=1)


def expected_block_mask_ratio(T: int, H: int, W: int, num_blocks: int) -> float:
    """The exact expected masked fraction of ``block_mask_3d`` (blocks are independent, and a block
    covers a position with a probability that factorises over the three axes)."""

    def cover(n: int, max_len: int) -> list:
        p = [0.0] * n
        for length in range(1, max_len + 1):
            for start in range(n - length + 1):
                for i in range(start, start + length):
                    p[i] += 1.0 / (max_len * (n - length + 1))
        return p

    mt, mh, mw = _block_lengths_max(T, H, W)
    pt, ph, pw = cover(T, mt), cover(H, mh), cover(W, mw)
    total = sum(1 - (1 - a * b * c) ** num_blocks for a in pt for b in ph for c in pw)
    return total / (T * H * W)


def blockwise_mask_2d(
    H: int,
    W: int,
    ratio: float,
    min_block: int = 16,
    min_aspect: float = 0.3,
    generator: Optional[torch.Generator] = None,
    attempts: int = 10,
) -> torch.Tensor:
    """(H, W) bool with ``round(ratio * H * W)`` masked patches (BEiT's blockwise masking).

    Each round proposes a rectangle of area uniform in [min_block, remaining] and aspect ratio
    log-uniform in [min_aspect, 1 / min_aspect] at a random place, and keeps it if it adds between 1
    and the remaining count of new patches. ``min_block`` is capped at the target so that small grids
    (the tiny presets) still reach it; a final top-up with single random patches guarantees the count.
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio {ratio} is outside [0, 1)")
    target = int(round(ratio * H * W))
    mask = torch.zeros(H, W, dtype=torch.bool)
    min_block = max(1, min(min_block, target))
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator))

    while int(mask.sum()) < target:
        remaining = target - int(mask.sum())
        added = 0
        for _ in range(attempts):
            area = uniform(min(min_block, remaining), remaining)
            aspect = math.exp(uniform(*log_aspect))
            h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if not (1 <= h <= H and 1 <= w <= W):
                continue
            top = int(torch.randint(0, H - h + 1, (), generator=generator))
            left = int(torch.randint(0, W - w + 1, (), generator=generator))
            new = h * w - int(mask[top : top + h, left : left + w].sum())
            if 0 < new <= remaining:
                mask[top : top + h, left : left + w] = True
                added = new
                break
        if added == 0:  # no rectangle fits what is left: fill it patch by patch
            free = (~mask).flatten().nonzero().squeeze(1)
            pick = free[torch.randperm(len(free), generator=generator)[:remaining]]
            mask.view(-1)[pick] = True
    return mask


def blockwise_mask_frames(
    batch_size: int, T: int, H: int, W: int, ratio: float, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """(B, T, H, W) bool: an independent BEiT blockwise mask on every frame of every clip (E-ViLM)."""
    return torch.stack(
        [
            torch.stack([blockwise_mask_2d(H, W, ratio, generator=generator) for _ in range(T)])
            for _ in range(batch_size)
        ]
    )


def blocks_for_ratio(T: int, H: int, W: int, target: float = 0.15, max_blocks: int = 64) -> int:
    """The number of blocks whose expected masked fraction is closest to ``target`` (VIMPAC B.1: the
    paper picks the count closest to BERT's 15% for each input resolution)."""
    return min(range(1, max_blocks + 1), key=lambda k: abs(expected_block_mask_ratio(T, H, W, k) - target))
