"""HD-VILA's pre-training objectives (section 4.3) as registry objectives, ``(model, batch, ctx) ->
{loss name: loss}``:

- ``CONTRASTIVE`` ("contrastive"): video-language matching, eq. 4: L_v2t + L_t2v over the globally
  gathered batch, the video embedding being the mean of its segment embeddings; split into features
  and a loss over features (``train.objectives.Contrastive``) so accumulation can use an accumulated
  batch as negatives;
- ``MLM`` ("mlm"): masked language modelling, eq. 5, with BERT's masking (15% of the text tokens: 80%
  [MASK], 10% a random token, 10% unchanged), the segments' logits aggregated into one consensus.

Stage 1 weights {"contrastive": 1, "mlm": 0}, stage 2 {"contrastive": 0, "mlm": 1}: an objective whose
loss has weight 0 returns a constant 0 without running the model, so each stage pays for its own.

Batch fields: ``hr_BSCHW`` (B, S, 3, H, W), ``lr_BSKCHW`` (B, S, 2N, 3, H/4, W/4) uint8,
``subtitle_ids``/``subtitle_mask`` (B, L) (the clip's sentence), ``has_subtitle`` (B,).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from train.loss import info_nce
from train.objectives import Contrastive, ObjectiveContext, autocast, loss_weights

from .data import video_inputs

IGNORE = -100


def _weight(name: str, ctx: ObjectiveContext) -> float:
    from train.registry import get_family

    return float(loss_weights(get_family("hdvila"), ctx.cfg)[name])


def _zero(ctx: ObjectiveContext) -> torch.Tensor:
    return torch.zeros((), device=ctx.device)


def contrastive_features(model, batch: dict, ctx: ObjectiveContext) -> dict:
    """Video and subtitle embeddings (B, D), unit norm (nothing when the loss has weight 0)."""
    if not _weight("contrastive", ctx):
        return {}
    with autocast(ctx):
        video_BD = model.encode_video(**video_inputs(batch, ctx.device))
        text_BD = model.encode_text(batch["subtitle_ids"], batch["subtitle_mask"])
    return {
        "video": video_BD.float(),
        "text": text_BD.float(),
        "has_subtitle": batch["has_subtitle"],
        "logit_scale": model.logit_scale,
    }


def contrastive_loss(features: dict, ctx: ObjectiveContext) -> dict:
    if "video" not in features:
        return {"contrastive": _zero(ctx)}
    loss = info_nce(
        features["video"],
        features["text"],
        features["logit_scale"],
        features["has_subtitle"],
        ctx.rank,
        ctx.world_size,
    )
    return {"contrastive": loss}


CONTRASTIVE = Contrastive(contrastive_features, contrastive_loss)


def mask_tokens(
    ids_BL: torch.Tensor,
    mask_BL: torch.Tensor,
    vocab_size: int,
    mask_token_id: int,
    probability: float = 0.15,
    generator: Optional[torch.Generator] = None,
) -> tuple:
    """BERT's masking -> (masked ids, labels with IGNORE where not masked). Candidates are the text
    tokens between the first ([CLS]) and the last ([SEP]) of each row; a row with candidates but no draw
    gets one masked token, so every row contributes to the loss. Draws from ``generator`` (default:
    torch's global RNG, which checkpoints restore)."""
    device = ids_BL.device
    B, L = ids_BL.shape
    lengths_B = mask_BL.sum(1)
    positions_BL = torch.arange(L, device=device).expand(B, L)
    candidates_BL = (positions_BL >= 1) & (positions_BL < (lengths_B - 1)[:, None])

    def uniform() -> torch.Tensor:
        return torch.rand(B, L, generator=generator).to(device)

    chosen_BL = candidates_BL & (uniform() < probability)
    # rows left without a masked token: mask the candidate with the largest draw
    empty_B = ~chosen_BL.any(1) & candidates_BL.any(1)
    fallback_BL = F.one_hot(uniform().masked_fill(~candidates_BL, -1).argmax(1), L).bool()
    chosen_BL |= fallback_BL & empty_B[:, None]
    labels_BL = ids_BL.masked_fill(~chosen_BL, IGNORE)
    action_BL = uniform()
    masked_BL = ids_BL.masked_fill(chosen_BL & (action_BL < 0.8), mask_token_id)
    randomized_BL = chosen_BL & (action_BL >= 0.8) & (action_BL < 0.9)
    random_ids_BL = torch.randint(vocab_size, (B, L), generator=generator).to(device)
    masked_BL = torch.where(randomized_BL, random_ids_BL, masked_BL)
    return masked_BL, labels_BL


def mlm_features(model, batch: dict, ctx: ObjectiveContext) -> dict:
    """Vocabulary logits (B, L, V) of the masked text with the video, and their labels (B, L)
    (nothing when the loss has weight 0)."""
    if not _weight("mlm", ctx):
        return {}
    cfg = model.cfg
    ids_BL, labels_BL = mask_tokens(
        batch["subtitle_ids"], batch["subtitle_mask"], cfg.vocab_size, cfg.mask_token_id, cfg.mlm_probability
    )
    with autocast(ctx):
        logits_BLV = model.mlm_logits(ids_BL, batch["subtitle_mask"], **video_inputs(batch, ctx.device))
    return {"logits": logits_BLV.float(), "labels": labels_BL}


def mlm_loss(features: dict, ctx: ObjectiveContext) -> dict:
    """Cross-entropy over every masked token of the (accumulated) batch."""
    if "logits" not in features:
        return {"mlm": _zero(ctx)}
    logits_BLV, labels_BL = features["logits"], features["labels"]
    if not (labels_BL != IGNORE).any():  # no text token to predict in this batch
        return {"mlm": 0.0 * logits_BLV.sum()}
    return {"mlm": F.cross_entropy(logits_BLV.flatten(0, 1), labels_BL.flatten(), ignore_index=IGNORE)}


# Also split into features and a loss: with gradient accumulation the trainer then uses GradCache for
# both objectives, so stage 1 scores the whole accumulated batch as negatives.
MLM = Contrastive(mlm_features, mlm_loss)
