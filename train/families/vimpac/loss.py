"""VIMPAC's clip-level contrastive loss (section 3.2, appendix B.2): InfoNCE between the two windows of
each video, negatives being every other window in the (global) batch, both windows' directions; the
loss is multiplied by the fixed temperature (equation 6: alpha * gamma * L_cl)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from train.loss import _gather


def clip_contrastive_loss(
    first_BE: torch.Tensor, second_BE: torch.Tensor, temperature: float, rank: int = 0, world_size: int = 1
) -> torch.Tensor:
    """gamma * (mean_i L(i) + mean_i L'(i)), with
    L(i) = -log exp(f_i.f'_i / g) / (sum_{k != i} exp(f_i.f_k / g) + sum_k exp(f_i.f'_k / g)).
    Features are L2-normalised here; (B, E) local to this rank, negatives gathered across ranks."""
    if first_BE.shape != second_BE.shape:
        raise ValueError(f"window features {tuple(first_BE.shape)} and {tuple(second_BE.shape)} differ")
    a_BE, b_BE = F.normalize(first_BE.float(), dim=-1), F.normalize(second_BE.float(), dim=-1)
    if world_size > 1:
        all_a, all_b = _gather(a_BE, world_size, True), _gather(b_BE, world_size, True)
    else:
        all_a, all_b = a_BE, b_BE
    B = a_BE.shape[0]
    labels_B = torch.arange(B, device=a_BE.device) + rank * B
    self_mask_BG = F.one_hot(labels_B, all_a.shape[0]).bool()
    ab, aa = a_BE @ all_b.T / temperature, (a_BE @ all_a.T / temperature).masked_fill(self_mask_BG, float("-inf"))
    ba, bb = b_BE @ all_a.T / temperature, (b_BE @ all_b.T / temperature).masked_fill(self_mask_BG, float("-inf"))
    loss = F.cross_entropy(torch.cat([ab, aa], 1), labels_B) + F.cross_entropy(torch.cat([ba, bb], 1), labels_B)
    return loss * temperature
