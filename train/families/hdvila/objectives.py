"""HD-VILA's pre-training objectives (section 4.3), each ``(model, batch, ctx) -> {name: loss}``.

- ``contrastive``: video-language matching, eq. 4: L_v2t + L_t2v over the (globally gathered) batch,
  with the video embedding the mean of its segment embeddings. ``contrastive_features`` and
  ``contrastive_loss`` split it so that accumulation can use an accumulated batch as negatives.
- ``mlm``: masked language modelling, eq. 5, with BERT's masking (15% of the text tokens: 80% [MASK],
  10% a random token, 10% unchanged) and the segments' logits aggregated into one consensus.

Batch fields: ``hr_frames`` (B, S, 3, H, W), ``lr_frames`` (B, S, 2N, 3, H/4, W/4) (uint8),
``subtitle_ids``/``subtitle_mask`` (B, L) (the sentence of the clip), optional ``has_subtitle`` (B,).
``ctx`` may carry ``rank`` and ``world_size`` (default 0 and 1).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from train.loss import info_nce

IGNORE = -100


def contrastive_features(model, batch: dict) -> tuple:
    """(video_BD, text_BD), unit norm."""
    video_BD = model.encode_video(batch["hr_frames"], batch["lr_frames"])
    text_BD = model.encode_text(batch["subtitle_ids"], batch["subtitle_mask"])
    return video_BD, text_BD


def contrastive_loss(model, video_BD, text_BD, has_text_B=None, rank: int = 0, world_size: int = 1):
    return info_nce(
        video_BD.float(),
        text_BD.float(),
        model.logit_scale,
        has_text_B=has_text_B,
        rank=rank,
        world_size=world_size,
        logit_scale_max=model.cfg.logit_scale_max,
    )


def contrastive(model, batch: dict, ctx=None) -> dict:
    video_BD, text_BD = contrastive_features(model, batch)
    loss = contrastive_loss(
        model,
        video_BD,
        text_BD,
        batch.get("has_subtitle"),
        rank=getattr(ctx, "rank", 0),
        world_size=getattr(ctx, "world_size", 1),
    )
    return {"contrastive": loss}


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
    gets one masked token, so every row contributes to the loss."""
    device = ids_BL.device
    B, L = ids_BL.shape
    lengths_B = mask_BL.sum(1)
    positions_BL = torch.arange(L, device=device).expand(B, L)
    candidates_BL = (positions_BL >= 1) & (positions_BL < (lengths_B - 1)[:, None])

    def uniform() -> torch.Tensor:
        return torch.rand(B, L, generator=generator, device="cpu").to(device)

    chosen_BL = candidates_BL & (uniform() < probability)
    # rows left without a masked token: mask the candidate with the largest draw
    empty_B = ~chosen_BL.any(1) & candidates_BL.any(1)
    fallback_BL = F.one_hot(uniform().masked_fill(~candidates_BL, -1).argmax(1), L).bool()
    chosen_BL |= fallback_BL & empty_B[:, None]
    labels_BL = ids_BL.masked_fill(~chosen_BL, IGNORE)
    action_BL = uniform()
    masked_BL = ids_BL.masked_fill(chosen_BL & (action_BL < 0.8), mask_token_id)
    randomized_BL = chosen_BL & (action_BL >= 0.8) & (action_BL < 0.9)
    random_ids_BL = torch.randint(vocab_size, (B, L), generator=generator, device="cpu").to(device)
    masked_BL = torch.where(randomized_BL, random_ids_BL, masked_BL)
    return masked_BL, labels_BL


def mlm(model, batch: dict, ctx=None) -> dict:
    cfg = model.cfg
    ids_BL, labels_BL = mask_tokens(
        batch["subtitle_ids"], batch["subtitle_mask"], cfg.vocab_size, cfg.mask_token_id, cfg.mlm_probability
    )
    logits_BLV = model.mlm_logits(ids_BL, batch["subtitle_mask"], batch["hr_frames"], batch["lr_frames"])
    if not (labels_BL != IGNORE).any():  # no text token to predict in this batch
        return {"mlm": 0.0 * logits_BLV.sum()}
    loss = F.cross_entropy(logits_BLV.float().flatten(0, 1), labels_BL.flatten(), ignore_index=IGNORE)
    return {"mlm": loss}


OBJECTIVES = {"contrastive": contrastive, "mlm": mlm}
