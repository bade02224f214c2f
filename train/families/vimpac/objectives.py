"""VIMPAC's objective (equation 6): mask-then-predict over both windows' block-masked codes ("mask")
and the clip contrastive loss between the two windows on the same masked inputs ("contrastive",
already multiplied by the temperature; its weight is alpha). Negatives are the other clips of the
micro-batch (all ranks'): like the paper, gradient accumulation does not add negatives."""

from __future__ import annotations

import torch

from train.families.vimpac.loss import clip_contrastive_loss
from train.objectives import autocast


def mask_then_predict_and_contrast(model, batch: dict, ctx) -> dict:
    if "codes_BTHW" in batch:
        inputs = {"codes_BTHW": torch.cat([batch["codes_BTHW"], batch["second_codes_BTHW"]])}
    else:
        inputs = {"frames_BTCHW": torch.cat([batch["frames_BTCHW"], batch["second_BTCHW"]])}
    with autocast(ctx):
        out = model.pretrain_forward(**inputs)
    first, second = out["clip_BE"].float().chunk(2)
    return {
        "mask": out["mask_loss"].float(),
        "contrastive": clip_contrastive_loss(first, second, ctx.model_config.temperature, ctx.rank, ctx.world_size),
    }
