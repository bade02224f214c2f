"""E-ViLM's losses as named terms: the tokenizer stage (token, vq) and pre-training (vtm, mlm, mvm)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from train.families.evilm.model import IGNORE, Evilm
from train.families.evilm.tokenizer import SemanticVQTokenizer, word_targets, words_mask
from train.masking import blockwise_mask_frames


def tokenizer_losses(tokenizer: SemanticVQTokenizer, frames_BTCHW, ids_BL, mask_BL) -> dict:
    """Equation 7 on uint8 frames and the tokenised captions: {"token", "vq"}."""
    targets = word_targets(ids_BL, words_mask(mask_BL), tokenizer.cfg.vocab_size)
    out = tokenizer(frames_BTCHW.float() / 255.0, targets)
    return {"token": out["token"], "vq": out["vq"]}


def pretrain_losses(model: Evilm, frames_BTCHW, ids_BL, mask_BL, patches_BTHW=None) -> dict:
    """{"vtm", "mlm", "mvm"} on a batch of clips and their texts (section 3.4). MVM needs the model's
    frozen tokenizer; without one (the paper's "w/o MVM" baseline) only VTM and MLM are returned.
    ``patches_BTHW``: the MVM mask (drawn here when not given)."""
    cfg = model.cfg
    B, T = frames_BTCHW.shape[:2]
    losses = {}
    # MLM and MVM share one fusion pass over masked words and blanked patches
    inputs, labels = model.mask_words(ids_BL, words_mask(mask_BL))
    video_frames = frames_BTCHW
    if model.tokenizer is not None:
        codes_BThw = model.tokenizer.encode(frames_BTCHW.float() / 255.0)  # targets from the unmasked frames
        patches = patches_BTHW
        if patches is None:
            patches = blockwise_mask_frames(B, T, cfg.grid, cfg.grid, cfg.mvm_ratio).to(frames_BTCHW.device)
        video_frames = model.mask_patches(frames_BTCHW, patches)
    _, h_L, h_V = model.fuse(model.video_tokens(video_frames), model.text_tokens(inputs, mask_BL), mask_BL)
    predicted = labels != IGNORE
    losses["mlm"] = (
        F.cross_entropy(model.mlm_head(h_L[predicted]).float(), labels[predicted])
        if predicted.any()
        else h_L.sum() * 0.0
    )
    if model.tokenizer is not None:
        flat = patches.flatten(1)
        losses["mvm"] = F.cross_entropy(model.mvm_head(h_V[flat]).float(), codes_BThw.flatten(1)[flat])
    # VTM on clean inputs: each clip with its own text, and with another clip's text
    video, text = model.video_tokens(frames_BTCHW), model.text_tokens(ids_BL, mask_BL)
    if B > 1:
        other = (torch.arange(B, device=ids_BL.device) + int(torch.randint(1, B, ()))) % B
        logits = model.match_logits(
            torch.cat([video, video]), torch.cat([text, text[other]]), torch.cat([mask_BL, mask_BL[other]])
        )
        targets = torch.cat([torch.ones(B), torch.zeros(B)]).long().to(logits.device)
        losses["vtm"] = F.cross_entropy(logits.float(), targets)
    else:
        losses["vtm"] = model.match_logits(video, text, mask_BL).sum() * 0.0
    return losses


# --- the registry's objectives: (model, batch, ctx) -> named losses ---
def tokenizer_stage(model: SemanticVQTokenizer, batch: dict, ctx) -> dict:
    from train.families.evilm.data import caption_tokens
    from train.objectives import autocast

    ids, mask = caption_tokens(batch)
    with autocast(ctx):
        return tokenizer_losses(model, batch["frames_BTCHW"], ids, mask)


def pretraining(model: Evilm, batch: dict, ctx) -> dict:
    from train.families.evilm.data import caption_tokens
    from train.objectives import autocast

    ids, mask = caption_tokens(batch)
    with autocast(ctx):
        return pretrain_losses(model, batch["frames_BTCHW"], ids, mask, batch.get("patch_mask_BTHW"))
