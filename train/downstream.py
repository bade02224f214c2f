"""The loop of the downstream tasks that fine-tune (``--task action-finetune``, ``video-qa``): AdamW over
a model and its new head, linear warm-up then linear decay (the trainer's ``lr_factor``), micro-batches
accumulated to the task's batch, gradient clipping; each step's mean loss and learning rate go to
``RUN_DIR/metrics.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import torch


def finetune_steps(
    model: torch.nn.Module,
    head: torch.nn.Module,
    epoch_batches: Callable[[int], Iterable],
    loss_of: Callable,
    steps: int,
    accum: int,
    lr: float,
    weight_decay: float,
    betas: tuple,
    run_dir,
    warmup: float = 0.1,
    grad_clip: float = 1.0,
) -> list:
    """Train ``steps`` updates of ``accum`` micro-batches; ``epoch_batches(epoch)`` gives an epoch's
    micro-batches (None ones are skipped), ``loss_of(batch)`` their loss. Returns the step records."""
    from train.config import TrainConfig
    from train.fit import lr_factor, param_groups

    schedule = TrainConfig(steps=steps, lr=lr, min_lr=0.0, warmup_steps=round(warmup * steps), lr_schedule="linear")
    groups = param_groups(model, weight_decay)
    head_groups = param_groups(head, weight_decay)
    for group, extra in zip(groups, head_groups):
        group["params"] = group["params"] + extra["params"]
    parameters = [p for g in groups for p in g["params"]]
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=1e-8)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, schedule))
    model.train()
    head.train()
    history, losses, epoch = [], [], 0
    while len(history) < steps:
        seen = False
        for batch in epoch_batches(epoch):
            if batch is None:
                continue
            seen = True
            loss = loss_of(batch)
            (loss / accum).backward()
            losses.append(float(loss.detach()))
            if len(losses) < accum:
                continue
            torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
            rate = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            history.append({"step": len(history) + 1, "loss": sum(losses) / len(losses), "lr": rate})
            losses = []
            if len(history) >= steps:
                break
        if not seen:
            raise ValueError("no training sample could be read")
        epoch += 1
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "metrics.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in history)
    model.eval()
    head.eval()
    return history
