"""The long-video recipe's objective (section 3.1): InfoNCE between the video (or image) and its text,
the named loss "subtitle" (the subtitle summary where the clip has one: stage 2's HowTo100M Summary
role; an image's caption). The paper has one text per video; the trainer's frame captions can be a
second contrastive target ("caption"), off by default (``loss_weights=caption:1`` turns it on), and
then computed only when its weight is not 0."""

from __future__ import annotations

import torch

from train.loss import info_nce
from train.objectives import Contrastive, ObjectiveContext, autocast, loss_weights


def _texts(ctx: ObjectiveContext) -> tuple:
    from train.registry import get_family

    weights = loss_weights(get_family("longvideo"), ctx.cfg)
    return ("subtitle", "caption") if weights.get("caption", 0) else ("subtitle",)


def features(model, batch: dict, ctx: ObjectiveContext) -> dict:
    from train.families.longvideo.data import video_inputs

    texts = _texts(ctx)
    ids = torch.cat([batch[f"{name}_ids"] for name in texts])
    mask = torch.cat([batch[f"{name}_mask"] for name in texts])
    with autocast(ctx):
        video_BD = model.encode_video(**video_inputs(batch, ctx.device))
        text_BD = model.encode_text(ids, mask).chunk(len(texts))
    feats = {"video": video_BD.float(), "logit_scale": model.logit_scale}
    for name, text in zip(texts, text_BD):  # the similarity logits and softmax in fp32, outside autocast
        feats[name], feats[f"has_{name}"] = text.float(), batch[f"has_{name}"]
    return feats


def loss(feats: dict, ctx: ObjectiveContext) -> dict:
    """A clip without the text (a caption-only clip with the caption loss off) is a negative only."""
    texts = [name for name in ("subtitle", "caption") if name in feats]
    return {
        name: info_nce(
            feats["video"], feats[name], feats["logit_scale"], feats[f"has_{name}"], ctx.rank, ctx.world_size
        )
        for name in texts
    }


VIDEO_TEXT = Contrastive(features, loss)
