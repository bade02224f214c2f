"""Contrastive losses shared by the families: InfoNCE and open_clip's ClipLoss, exact at world_size 1
(VidLA's equation 3, ``vidla_loss``, is in train.families.vidla.objectives).

With world_size > 1 every rank gathers the features of all ranks WITH gradients and computes the loss of
its own rows only (open_clip's "local loss"). The per-rank loss is scaled so that DDP's gradient averaging
gives exactly the gradient of the single-process loss on the concatenated global batch.

`logit_scale` is always the model's parameter, log(1 / temperature); it is exponentiated here, never
clamped: a clamp here would have zero gradient at the bound (CLIP checkpoints start at ln 100), so the
trainer clamps the parameter after each optimizer step instead, as open_clip does.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def _gather(x: torch.Tensor, world_size: int, with_grad: bool) -> torch.Tensor:
    """Concatenate `x` of every rank along dim 0 (rank order); gradients flow back to each rank's part."""
    import torch.distributed as dist

    if with_grad:
        import torch.distributed.nn.functional as dist_nn

        return torch.cat(dist_nn.all_gather(x), dim=0)
    parts = [torch.empty_like(x) for _ in range(world_size)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def info_nce(
    video_BD: torch.Tensor,
    text_BD: torch.Tensor,
    logit_scale: torch.Tensor,
    has_text_B: Optional[torch.Tensor] = None,
    rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:
    """VidLA's per-sample L_vt = -log softmax_j(v_i.t_j / tau)[i] - log softmax_j(t_i.v_j / tau)[i],
    averaged over the samples that have a text (`has_text_B`, default all).

    Video-to-text ranks only existing texts; text-to-video ranks every video (a video without this text
    is still a valid negative). Returns 0 (attached to the graph) when no sample in the global batch has
    a text. Features are expected L2-normalised, (B, D) local to this rank.
    """
    if video_BD.shape != text_BD.shape:
        raise ValueError(
            f"video features {tuple(video_BD.shape)} and text features {tuple(text_BD.shape)} differ in shape"
        )
    B = video_BD.shape[0]
    if has_text_B is None:
        has_text_B = torch.ones(B, dtype=torch.bool, device=video_BD.device)
    elif has_text_B.shape != (B,):
        raise ValueError(f"has_text mask {tuple(has_text_B.shape)} does not match the batch of {B}")
    has_text_B = has_text_B.to(device=video_BD.device, dtype=torch.bool)
    scale = logit_scale.exp()

    if world_size > 1:
        all_video_GD = _gather(video_BD, world_size, with_grad=True)
        all_text_GD = _gather(text_BD, world_size, with_grad=True)
        all_has_text_G = _gather(has_text_B, world_size, with_grad=False)
    else:
        all_video_GD, all_text_GD, all_has_text_G = video_BD, text_BD, has_text_B
    num_with_text = int(all_has_text_G.sum())
    if num_with_text == 0:
        return 0.0 * (scale + video_BD.sum() + text_BD.sum())

    labels_B = torch.arange(B, device=video_BD.device) + rank * B
    rows_B = has_text_B
    video_to_text_BG = (scale * video_BD @ all_text_GD.T).masked_fill(~all_has_text_G[None, :], float("-inf"))
    text_to_video_BG = scale * text_BD @ all_video_GD.T
    per_sample_B = F.cross_entropy(video_to_text_BG[rows_B], labels_B[rows_B], reduction="none") + F.cross_entropy(
        text_to_video_BG[rows_B], labels_B[rows_B], reduction="none"
    )
    # sum over this rank's rows / global count, times world_size: DDP's mean over ranks gives the global mean
    return per_sample_B.sum() * (world_size / num_with_text)


class ClipLoss(nn.Module):
    """open_clip's symmetric contrastive loss: (CE(video->text) + CE(text->video)) / 2 over the global batch."""

    def __init__(self, rank: int = 0, world_size: int = 1):
        super().__init__()
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.rank, self.world_size = rank, world_size

    def forward(self, video_feats: torch.Tensor, text_feats: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
        return 0.5 * info_nce(video_feats, text_feats, logit_scale, None, self.rank, self.world_size)
