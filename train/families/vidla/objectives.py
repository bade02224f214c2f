"""VidLA's objective (equation 3): video-subtitle and video-caption InfoNCE over the global batch,
as the named losses "subtitle" and "caption"; and, off by default (weight 0), "time_order": ours, not
VidLA's, after the time-reversed negatives of "Test of Time" (Bagad et al., arXiv:2301.02074): each text
must score its clip above the same clip played backwards; and "reversal" (ours, off): the cosine of each
clip's embedding with its time-reversal's, which pulls the video tower out of the order-blind start that
a text tower without word knowledge cannot (docs/training.md, "Does VidLA learn time?")."""

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
    reversed_too = any(reversal_weights(ctx).values())
    with autocast(ctx):
        inputs = frames_inputs(batch, ctx.device)
        if reversed_too:  # the clip and its time-reversal in one call: (2B, T, C, H, W)
            frames = inputs["frames_BTCHW"]
            inputs = {**inputs, "frames_BTCHW": torch.cat([frames, frames.flip(1)])}
        video_BD, reversed_BD = model.encode_video(**inputs), None
        if reversed_too:
            video_BD, reversed_BD = video_BD.chunk(2)
        subtitle_BD, caption_BD = model.encode_text(ids_2BL, mask_2BL).chunk(2)
    # the similarity logits and softmax in fp32, outside autocast
    return {
        **({"reversed_video": reversed_BD.float()} if reversed_too else {}),
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
    losses = {
        name: info_nce(
            feats["video"], feats[name], feats["logit_scale"], feats[f"has_{name}"], ctx.rank, ctx.world_size
        )
        for name in ("subtitle", "caption")
    }
    weights = reversal_weights(ctx)
    if weights["time_order"]:
        losses["time_order"] = time_order_loss(feats)
    if weights["reversal"]:
        losses["reversal"] = (feats["video"] * feats["reversed_video"]).sum(-1).mean()
    return losses


def reversal_weights(ctx: ObjectiveContext) -> dict:
    """The weights of the losses that need each clip's time-reversal (0: the clip is not reversed)."""
    weights = ctx.cfg.loss_weights if ctx.cfg is not None else {}
    return {name: weights.get(name, 0.0) for name in ("time_order", "reversal")}


def time_order_loss(feats: dict) -> torch.Tensor:
    """Mean over the samples' texts of -log softmax([t.v, t.v_reversed] / tau)[0]: a local term (no
    gather), so the same on any number of ranks. A model blind to frame order scores both alike: ln 2."""
    scale = feats["logit_scale"].exp()
    terms = []
    for name in ("subtitle", "caption"):
        has = feats[f"has_{name}"].to(feats["video"].device).bool()
        text = feats[name][has]
        forward = (text * feats["video"][has]).sum(-1)
        backward = (text * feats["reversed_video"][has]).sum(-1)
        terms.append(torch.nn.functional.softplus(scale * (backward - forward)))
    return torch.cat(terms).mean()


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
    return info_nce(video_feats, subtitle_feats, logit_scale, has_subtitle, rank, world_size) + info_nce(
        video_feats, caption_feats, logit_scale, has_caption, rank, world_size
    )


VIDEO_TEXT = Contrastive(features, loss)
