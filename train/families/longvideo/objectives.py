"""The recipe's contrastive objective (section 3.1: NCE between the pooled video and its text), over both
texts a pipeline clip carries: its subtitle (the subtitle summary where there is one: HowTo100M Summary's
role in stage 2) and its caption. Each is a named loss; clips without that text are left out of it."""
from __future__ import annotations

from typing import Optional

import torch

from train.loss import info_nce

LOSS_NAMES = ("video_subtitle", "video_caption")


def contrastive_losses(
    video_BD: torch.Tensor,
    subtitle_BD: torch.Tensor,
    caption_BD: torch.Tensor,
    logit_scale: torch.Tensor,
    has_subtitle_B: Optional[torch.Tensor] = None,
    has_caption_B: Optional[torch.Tensor] = None,
    rank: int = 0,
    world_size: int = 1,
    logit_scale_max: float = 100.0,
) -> dict[str, torch.Tensor]:
    """{"video_subtitle": L_vs, "video_caption": L_vc}, each VidLA's symmetric info-NCE over the samples
    having that text (0, attached to the graph, when none has it). Features unit-norm, (B, D) per rank."""
    return {
        "video_subtitle": info_nce(video_BD, subtitle_BD, logit_scale, has_subtitle_B, rank, world_size,
                                   logit_scale_max),
        "video_caption": info_nce(video_BD, caption_BD, logit_scale, has_caption_B, rank, world_size,
                                  logit_scale_max),
    }
