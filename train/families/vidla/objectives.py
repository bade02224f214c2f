"""VidLA's objective (equation 3): video-subtitle and video-caption InfoNCE over the global batch,
as the named losses "subtitle" and "caption"."""

from __future__ import annotations

from typing import Optional

import torch

from train.data.samples import frames_inputs
from train.loss import info_nce
from train.objectives import Contrastive, ObjectiveContext, autocast


def features(model, batch: dict, ctx: ObjectiveContext) -> dict:
    """Video, subtitle and caption features; both texts go through the text tower in one call."""
    ids_2BL = torch.cat([batch["subtitle_ids"], batch["caption_ids"]])
    mask_2BL = torch.cat([batch["subtitle_mask"], batch["caption_mask"]])
    with autocast(ctx):
        video_BD = model.encode_video(**frames_inputs(batch, ctx.device))
        subtitle_BD, caption_BD = model.encode_text(ids_2BL, mask_2BL).chunk(2)
    # the similarity logits and softmax in fp32, outside autocast
    return {
        "video": video_BD.float(),
        "subtitle": subtitle_BD.float(),
        "caption": caption_BD.float(),
        "has_subtitle": batch["has_subtitle"],
        "has_caption": batch["has_caption"],
        "logit_scale": model.logit_scale,
    }


def loss(feats: dict, ctx: ObjectiveContext) -> dict:
    if not bool((feats["has_subtitle"] | feats["has_caption"]).all()):
        raise ValueError("a sample has neither a subtitle nor a caption")
    return {
        name: info_nce(
            feats["video"], feats[name], feats["logit_scale"], feats[f"has_{name}"], ctx.rank, ctx.world_size
        )
        for name in ("subtitle", "caption")
    }


def vidla_loss(
    video_feats: torch.Tensor,
    subtitle_feats: torch.Tensor,
    caption_feats: torch.Tensor,
    logit_scale: torch.Tensor,
    has_subtitle: Optional[torch.Tensor] = None,
    has_caption: Optional[torch.Tensor] = None,
    rank: int = 0,
    world_size: int = 1,
) -> torch.Tensor:
    """VidLA equation 3: mean_i L_vs^i + mean_i L_vc^i, each mean over the samples having that text.

    Rows of `subtitle_feats` / `caption_feats` where the text is missing may hold anything (e.g. the
    embedding of an empty string); they are ignored through `has_subtitle` / `has_caption` (bool, (B,)).
    """
    if has_subtitle is not None and has_caption is not None:
        if not bool((has_subtitle.bool() | has_caption.bool()).all()):
            raise ValueError("a sample has neither a subtitle nor a caption")
    return (info_nce(video_feats, subtitle_feats, logit_scale, has_subtitle, rank, world_size)
            + info_nce(video_feats, caption_feats, logit_scale, has_caption, rank, world_size))


VIDEO_TEXT = Contrastive(features, loss)
