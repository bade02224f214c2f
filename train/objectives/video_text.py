"""VidLA's objective (equation 3): video-subtitle and video-caption InfoNCE over the global batch,
as the named losses "subtitle" and "caption"."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from train.data.samples import frames_inputs
from train.loss import info_nce
from train.objectives import Contrastive, ObjectiveContext


def autocast(ctx: ObjectiveContext):
    """bf16 autocast on CUDA when the config asks for it; CPU runs stay fp32."""
    if ctx.cfg.precision == "bf16" and ctx.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


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


VIDEO_TEXT = Contrastive(features, loss)
