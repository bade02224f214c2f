"""Training objectives: each returns NAMED losses, weighted by ``TrainConfig.loss_weights``.

An objective is ``objective(model, batch, ctx) -> {loss name: scalar Tensor}``. A contrastive one is
a ``Contrastive(features, loss)`` so that gradient accumulation can use the whole accumulated batch
as negatives: ``features(model, batch, ctx) -> {name: Tensor}`` (per-sample tensors (B, ...) along
dim 0; 0-dim tensors such as the logit scale are per-model), ``loss(features, ctx) -> {loss name:
Tensor}`` over features of any number of micro-batches concatenated along dim 0.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class ObjectiveContext:
    rank: int  # this process's rank
    world_size: int  # number of processes
    step: int  # optimizer step being computed (0-based)
    device: torch.device  # where the batch and the model are
    cfg: Any  # the TrainConfig
    model_config: Any  # the family's model config


@dataclass(frozen=True)
class Contrastive:
    """An objective split into per-sample features and a loss over (accumulated) features."""

    features: Callable  # (model, batch, ctx) -> {name: Tensor}
    loss: Callable  # (features, ctx) -> {loss name: Tensor}

    def __call__(self, model, batch: dict, ctx: ObjectiveContext) -> dict:
        return self.loss(self.features(model, batch, ctx), ctx)


def loss_weights(family, cfg) -> dict:
    """The family's default loss weights with the config's overrides; unknown names are an error."""
    unknown = sorted(set(cfg.loss_weights) - set(family.loss_weights))
    if unknown:
        raise ValueError(
            f"loss_weights names {unknown} are not losses of family {family.name} "
            f"(its losses: {sorted(family.loss_weights)})"
        )
    return {**family.loss_weights, **cfg.loss_weights}


def weighted_total(losses: dict, weights: dict) -> torch.Tensor:
    """sum(weight * loss) over the named losses (in their order)."""
    missing = sorted(set(losses) - set(weights))
    if missing:
        raise ValueError(f"losses {missing} have no weight (weights: {sorted(weights)})")
    total = None
    for name, value in losses.items():
        term = weights[name] * value
        total = term if total is None else total + term
    return total


def autocast(ctx: ObjectiveContext):
    """bf16 autocast on CUDA when the config asks for it; CPU runs stay fp32."""
    if ctx.cfg.precision == "bf16" and ctx.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()
