"""The training loop: ``python -m train fit``.

One optimizer step = ``grad_accum`` micro-batches of ``batch_size`` clips per rank. Everything that
decides what a step computes (model, optimizer, schedule, RNG states, loader positions) is in the
checkpoint, so ``--resume`` continues a run exactly where it stopped.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Iterator, Optional

import torch
from torch import nn

from train import checkpoint as ckpt
from train.config import TrainConfig, model_config
from train.data.shards import ClipLoaderConfig, LoaderState, expand_shards, make_loader, texts_of
from train.distributed import (
    DistInfo,
    all_reduce_mean,
    all_true,
    barrier,
    gather_objects,
    init_distributed,
    wrap_model,
)
from train.objectives import Contrastive, ObjectiveContext, loss_weights, weighted_total

log = logging.getLogger(__name__)


class TrainStep(nn.Module):
    """The forward pass DDP wraps, once per micro-batch: every objective of the family on a batch,
    merged into one dict of named losses."""

    def __init__(self, model: nn.Module, objectives: dict):
        super().__init__()
        self.model = model
        self.objectives = objectives  # objective name -> objective (train.objectives)

    def forward(self, batch: dict, ctx: ObjectiveContext, features: bool = False) -> dict:
        """{loss name: loss}; with ``features``: {objective name: its features} (contrastive objectives)."""
        if features:
            return {name: objective.features(self.model, batch, ctx) for name, objective in self.objectives.items()}
        losses = {}
        for name, objective in self.objectives.items():
            named = objective(self.model, batch, ctx)
            clash = set(named) & set(losses)
            if clash:
                raise ValueError(f"objective {name} returns losses {sorted(clash)} that another one returns too")
            losses.update(named)
        return losses


def _sync(train_step: nn.Module, micro: int, num_micro: int):
    """DDP all-reduces the gradients on the last micro-batch's backward only."""
    last = micro == num_micro - 1
    return nullcontext() if last or not hasattr(train_step, "no_sync") else train_step.no_sync()


def accumulate_per_micro_batch(train_step, objectives, micro_batches, ctx, weights) -> tuple:
    """Loss and backward of each micro-batch on its own (its samples are each other's only negatives);
    returns the mean weighted loss and the mean named losses."""
    loss_sum = torch.zeros((), device=ctx.device)
    named_sums = {}
    for micro, batch in enumerate(micro_batches):
        with _sync(train_step, micro, len(micro_batches)):
            losses = train_step(batch, ctx)
            loss = weighted_total(losses, weights)
            (loss / len(micro_batches)).backward()
        loss_sum += loss.detach()
        for name, value in losses.items():
            named_sums[name] = named_sums.get(name, 0.0) + value.detach()
    return loss_sum / len(micro_batches), {k: v / len(micro_batches) for k, v in named_sums.items()}


def accumulate_contrastive(train_step, objectives, micro_batches, ctx, weights) -> tuple:
    """GradCache (open_clip's accum_freq): the features of every micro-batch without gradients, the
    losses over all of them (the whole accumulated batch are the negatives), then each micro-batch
    again with gradients, back-propagating the cached gradients of its features. Gradients equal
    those of one batch of all the micro-batches. The torch RNG is restored before each micro-batch
    of the second pass, so it draws the same tube masks as the first."""
    rng_states, leaves = [], []
    with torch.no_grad():
        for batch in micro_batches:
            rng_states.append(_torch_rng_state(ctx.device))
            feats = train_step(batch, ctx, features=True)
            leaves.append(
                {
                    obj: {k: v.detach().requires_grad_(v.is_floating_point()) for k, v in f.items()}
                    for obj, f in feats.items()
                }
            )
    losses = {}
    for obj, objective in objectives.items():
        first = leaves[0][obj]
        # per-sample features along dim 0; 0-dim ones (the logit scale) are the model's, taken once
        joined = {k: torch.cat([m[obj][k] for m in leaves]) if first[k].ndim else first[k] for k in first}
        losses.update(objective.loss(joined, ctx))
    total = weighted_total(losses, weights)
    total.backward()
    for micro, batch in enumerate(micro_batches):
        _set_torch_rng_state(rng_states[micro], ctx.device)
        with _sync(train_step, micro, len(micro_batches)):
            feats = train_step(batch, ctx, features=True)
            surrogate = None
            for obj, f in feats.items():
                for k, v in f.items():
                    if v.requires_grad:  # every such feature, so that DDP sees each parameter used
                        cached = leaves[micro][obj][k].grad
                        term = (v * (cached if cached is not None else torch.zeros_like(v))).sum()
                        surrogate = term if surrogate is None else surrogate + term
            if surrogate is not None:
                surrogate.backward()
    return total.detach(), {k: v.detach() for k, v in losses.items()}


def _torch_rng_state(device: torch.device) -> tuple:
    return torch.get_rng_state(), torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def _set_torch_rng_state(state: tuple, device: torch.device) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def to_device(batch: dict, device: torch.device) -> dict:
    """The batch with its tensors on ``device`` (lists of texts and keys stay)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def build_family_model(family, mcfg, cfg: TrainConfig) -> nn.Module:
    """The family's model with its weights (the family's loader, then ``cfg.init_from``) and
    ``cfg.freeze`` applied. Seed the torch RNG before calling: the init draws from it."""
    from train.registry import load

    model = load(family.build)(mcfg)
    if family.load_weights:
        report = load(family.load_weights)(model, mcfg)
        if report is not None:
            log.info("%s weights: %s", family.name, report)
    if cfg.init_from:
        log.info("init_from %s: %s", cfg.init_from, ckpt.init_weights_from(model, cfg.init_from))
    freeze_parameters(model, cfg.freeze)
    return model


def clamp_logit_scale(model: nn.Module, mcfg) -> None:
    """Keep a ``logit_scale`` parameter in [0, ln(logit_scale_max)] (open_clip): clamped here after the
    update, not in the loss, so that its gradient is not zero at the bound and the temperature learns."""
    scale = getattr(model, "logit_scale", None)
    if isinstance(scale, nn.Parameter):
        with torch.no_grad():
            scale.clamp_(0.0, math.log(getattr(mcfg, "logit_scale_max", 100.0)))


def freeze_parameters(model: nn.Module, patterns: tuple) -> list:
    """requires_grad=False on the parameters whose name matches a glob pattern; returns their names.
    A pattern that matches nothing is an error (a typo would silently train everything)."""

    frozen = []
    for pattern in patterns:
        matched = [name for name, _ in model.named_parameters() if fnmatchcase(name, pattern)]
        if not matched:
            raise ValueError(f"freeze pattern {pattern!r} matches no parameter of the model")
        frozen += matched
    named = dict(model.named_parameters())
    for name in frozen:
        named[name].requires_grad_(False)
    return frozen


def param_groups(model: nn.Module, weight_decay: float, lr: float = 0.0, lr_scales: Optional[dict] = None) -> list:
    """AdamW groups: no weight decay on norms, biases (every parameter of fewer than 2 dims), embeddings
    (``nn.Embedding`` weights and parameters named ``*_embedding``: VidLA's token, position, temporal,
    [CLS], [MST]) and the logit scale; decay on every other matrix, including the patch projection and
    position tables named otherwise (VIMPAC's ``pos_t``/``pos_h``/``pos_w``, E-ViLM's ``video_pos``).
    ``lr_scales`` (name glob -> multiplier of ``lr``) puts the parameters each glob matches first into
    groups of their own with that learning rate; a glob that matches nothing is an error."""
    embedding_params = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    scales = dict(lr_scales or {})
    groups = {}  # (scale, decays) -> parameters, in the order of first appearance
    matched = set()
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        pattern = next((g for g in scales if fnmatchcase(name, g)), None)
        matched.add(pattern)
        scale = scales[pattern] if pattern is not None else None
        no_decay = p.ndim < 2 or id(p) in embedding_params or name.endswith("_embedding") or "logit_scale" in name
        groups.setdefault((scale, not no_decay), []).append(p)
    unmatched = sorted(set(scales) - matched)
    if unmatched:
        raise ValueError(f"lr_scales pattern(s) {unmatched} match no trainable parameter of the model")
    out = []
    for scale in (None, *scales.values()):
        for decays in (True, False):
            params = groups.pop((scale, decays), [])
            if params or scale is None:
                group = {"params": params, "weight_decay": weight_decay if decays else 0.0}
                if scale is not None:
                    group["lr"] = lr * scale
                out.append(group)
    return out


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to 1, then cosine or linear decay (``cfg.lr_schedule``) to min_lr / lr at the last
    step of the schedule: ``cfg.steps``, or ``cfg.schedule_steps`` for a run that is one part of a longer
    schedule, starting ``cfg.schedule_offset`` steps into it."""
    step += cfg.schedule_offset
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    decay_steps = max(1, (cfg.schedule_steps or cfg.steps) - cfg.warmup_steps)
    progress = min(1.0, (step - cfg.warmup_steps) / decay_steps)
    floor = cfg.min_lr / cfg.lr if cfg.lr else 0.0
    if cfg.lr_schedule == "linear":
        return floor + (1 - floor) * (1 - progress)
    if cfg.lr_schedule == "step":
        return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def shard_texts(shards: Iterable[str]) -> Iterable[str]:
    """Every subtitle and caption in the shards (json members only; videos are not decoded). A shard
    that cannot be read (further) is left out here as the loader leaves it out of training."""
    from train.data.shards import raw_samples

    for url in shards:
        for sample in raw_samples(url):
            if "__error__" in sample:
                log.warning("tokenizer texts: shard %s is unreadable (%s); skipped", url, sample["__detail__"])
                continue
            try:
                meta = json.loads(sample["json"])
            except (KeyError, ValueError):  # no or broken json: the loader skips this sample too
                continue
            yield from (t for t in texts_of(meta) if t)
            yield from (s["text"] for s in meta.get("sentences") or [])


def prepare_tokenizer(cfg: TrainConfig, shards: list, run_dir: Path, info: DistInfo, resuming: bool = False) -> Path:
    """The run's own copy of the tokenizer in RUN_DIR/tokenizer (what eval loads), written by rank 0.
    A resumed run keeps it; a run from step 0 writes it anew (one left by an earlier attempt that
    stopped before its first checkpoint may come from another config)."""
    import shutil

    from train.tokenizer import TOKENIZER_BUILDERS, load_tokenizer

    folder = run_dir / "tokenizer"
    if info.is_main and not resuming:
        shutil.rmtree(folder, ignore_errors=True)
    if info.is_main and not (folder / "tokenizer_config.json").exists():
        inherited = _init_from_tokenizer(cfg)
        if cfg.tokenizer or inherited:
            load_tokenizer(cfg.tokenizer or str(inherited)).save_pretrained(str(folder))
        else:
            TOKENIZER_BUILDERS[cfg.tokenizer_kind](shard_texts(shards), folder, cfg.tokenizer_vocab_size)
    barrier(info)
    return folder


def _init_from_tokenizer(cfg: TrainConfig) -> Optional[Path]:
    """The tokenizer of the run that ``init_from`` starts from, when this config would otherwise train a
    new BPE (tokenizer ""): the token ids the loaded text tower learned must keep their meaning."""
    if cfg.tokenizer or not cfg.init_from:
        return None
    if str(cfg.init_from).endswith(".safetensors"):
        log.warning(
            "init_from %s: a safetensors export carries no tokenizer, so this run trains a new one whose "
            "token ids need not match the loaded text weights; pass tokenizer=SOURCE_RUN/tokenizer",
            cfg.init_from,
        )
        return None
    source = Path(cfg.init_from)
    run = source if source.is_dir() else source.resolve().parent.parent  # RUN/checkpoints/step_N.pt
    folder = run / "tokenizer"
    return folder if (folder / "tokenizer_config.json").exists() else None


def _step_of(line: str) -> float:
    """The step of a metrics.jsonl line; infinity (dropped on resume) for a blank line or the partial
    last line of a run killed while writing it."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf


class MetricsLog:
    """metrics.jsonl (one line per logged step) and TensorBoard, on rank 0."""

    def __init__(self, run_dir: Path, start_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / "metrics.jsonl"
        if self.path.exists():  # a resumed run: drop records of steps after the checkpoint
            kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= start_step]
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in kept))
            os.replace(tmp, self.path)
        self.writer = SummaryWriter(str(run_dir / "tensorboard"), purge_step=start_step + 1)

    def write(self, step: int, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **record}) + "\n")
        for name, value in record.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(name, value, step)
            elif isinstance(value, dict):
                for k, v in value.items():
                    self.writer.add_scalar(f"{name}/{k}", v, step)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Run:
    """What ``fit`` set up (``set_up``) and the state of the loop; the steps below read and advance it."""

    cfg: TrainConfig
    info: DistInfo
    run_dir: Path
    family: object  # train.registry.Family
    mcfg: object  # the family's model config
    tokenizer_dir: Path
    weights: dict  # loss name -> weight
    objectives: dict  # objective name -> objective
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    train_step: nn.Module  # TrainStep, wrapped by DDP (and compiled) as configured
    gradcache: bool  # whole-batch negatives under accumulation (every objective is contrastive)
    loader_state: LoaderState
    batches: Optional[Iterator]  # the loader; None once the loop is over (stops its workers)
    metrics: Optional[MetricsLog]  # rank 0
    bar: Optional[object]  # the tqdm progress bar: rank 0, with progress
    step: int = 0
    nan_skips: int = 0
    steps_this_run: int = 0
    last_loss: float = float("nan")
    skipped: dict = field(default_factory=dict)  # skipped samples of all ranks, as of the last logged step


@dataclass(frozen=True)
class StepResult:
    """One optimisation step, for the log (the same on every rank)."""

    loss: float  # the weighted loss, mean over the ranks
    losses: dict  # loss name -> value, mean over the ranks
    lr: float  # the learning rate this step used
    grad_norm: torch.Tensor  # before clipping
    finite: bool  # False: the update was skipped (NaN/inf guard)
    seconds: float


def fit(
    cfg: TrainConfig,
    shards_pattern: str,
    run_dir,
    resume: Optional[str] = None,
    stop_after: Optional[int] = None,
    progress: bool = True,
) -> dict:
    """Train; returns a summary. ``resume``: a checkpoint path, or "latest" for the run folder's last
    one. ``stop_after``: leave after this many steps of this invocation (a checkpoint is written)."""
    run = set_up(cfg, shards_pattern, run_dir, resume, progress)
    with _catch_sigterm() as terminated:
        run.train_step.train()
        while run.step < run.cfg.steps and (stop_after is None or run.steps_this_run < stop_after):
            result = optimisation_step(run)
            log_step(run, result)
            if run.step % run.cfg.checkpoint_every == 0 or run.step == run.cfg.steps:
                save(run)
            if not all_true(not terminated, run.info):  # every rank leaves after the same step
                log.warning("SIGTERM: stopping after step %d with a checkpoint", run.step)
                break
        if run.step % run.cfg.checkpoint_every and run.step != run.cfg.steps:
            save(run)  # stopped early (stop_after, SIGTERM): leave a checkpoint to resume from
    return finish(run, bool(terminated))


# --- set-up -----------------------------------------------------------------------------------------


def set_up(cfg: TrainConfig, shards_pattern: str, run_dir, resume: Optional[str], progress: bool) -> Run:
    """The run folder, the checkpoint to resume (its config wins, but for ``steps``), the tokenizer, the
    model, optimizer and schedule, the loader; the RNG states last, as the checkpoint left them."""
    info = init_distributed()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    shards = expand_shards(shards_pattern)
    state = _checkpoint_to_resume(run_dir, resume, info)
    if state is not None:
        cfg = TrainConfig.from_dict({**state["config"], "steps": cfg.steps})
    if info.is_main:
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    family, weights, objectives, mcfg, tokenizer_dir = _family_parts(cfg, shards, run_dir, info, state is not None)
    model, optimizer, scheduler = _model_and_optimizer(family, mcfg, cfg, info, state)
    loader_state = LoaderState(max(1, cfg.num_workers), cfg.batch_size)
    step = nan_skips = 0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, nan_skips = state["step"], state["nan_skips"]
        loader_state = LoaderState.from_dict(state["data"][info.rank])
        log.info("resumed from step %d", step)
    gradcache = _uses_gradcache(cfg, objectives)
    train_step = wrap_model(TrainStep(model, objectives), info)
    if cfg.compile:
        train_step = torch.compile(train_step)
    batches = iter(make_loader(shards, _loader_config(cfg, mcfg, family, info, tokenizer_dir), loader_state))
    if state is not None:
        ckpt.set_rng_state(state["rng"][info.rank])  # after everything above that draws random numbers
    metrics = MetricsLog(run_dir, step) if info.is_main else None
    bar = None
    if info.is_main and progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, unit="step", dynamic_ncols=True)
    return Run(
        cfg,
        info,
        run_dir,
        family,
        mcfg,
        tokenizer_dir,
        weights,
        objectives,
        model,
        optimizer,
        scheduler,
        train_step,
        gradcache,
        loader_state,
        batches,
        metrics,
        bar,
        step,
        nan_skips,
    )


def _checkpoint_to_resume(run_dir: Path, resume: Optional[str], info: DistInfo) -> Optional[dict]:
    """The checkpoint ``resume`` names ("latest": the run folder's last one, none yet: start afresh); a
    run folder that holds checkpoints already needs ``resume``."""
    path = (ckpt.latest_checkpoint(run_dir) if resume == "latest" else Path(resume)) if resume else None
    if resume == "latest" and path is None:  # so that a restarted job can always pass --resume
        log.info("--resume: no checkpoint in %s yet, starting from step 0", run_dir)
    if not resume and ckpt.latest_checkpoint(run_dir) is not None:
        # a new run here would reuse the old tokenizer and have its checkpoints pruned by the old ones
        raise ValueError(
            f"{run_dir} already holds the checkpoints of a run (latest: {ckpt.latest_checkpoint(run_dir).name}); "
            "pass --resume to continue it, or another --output"
        )
    if path is None:
        return None
    state = ckpt.load_checkpoint(path)
    if state["world_size"] != info.world_size:
        raise ValueError(
            f"checkpoint {path} was written by {state['world_size']} ranks, this run has "
            f"{info.world_size}; the data position cannot be resumed exactly"
        )
    return state


def _family_parts(cfg: TrainConfig, shards: list, run_dir: Path, info: DistInfo, resuming: bool) -> tuple:
    """(family, loss weights, objectives, model config, the run's tokenizer folder)."""
    from train.registry import family_of_model, load
    from train.tokenizer import load_tokenizer

    family = family_of_model(cfg.model)
    weights = loss_weights(family, cfg)  # unknown loss names fail before the tokenizer is trained
    objectives = {name: load(path) for name, path in family.objectives.items()}
    tokenizer_dir = prepare_tokenizer(cfg, shards, run_dir, info, resuming=resuming)
    mcfg = model_config(cfg)
    if len(load_tokenizer(tokenizer_dir)) > mcfg.vocab_size:
        raise ValueError(
            f"tokenizer {cfg.tokenizer or tokenizer_dir} has more tokens than the model's vocab_size {mcfg.vocab_size}"
        )
    return family, weights, objectives, mcfg, tokenizer_dir


def _model_and_optimizer(family, mcfg, cfg: TrainConfig, info: DistInfo, state: Optional[dict]) -> tuple:
    """(model, AdamW, schedule): the same initial weights on every rank (``init_from`` only on a fresh
    start), then the torch RNG seeded per rank for the steps' randomness (tube masking)."""
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = build_family_model(family, mcfg, cfg if state is None else cfg.replace(init_from=None)).to(info.device)
    optimizer = torch.optim.AdamW(
        param_groups(model, cfg.weight_decay, cfg.lr, cfg.lr_scales), lr=cfg.lr, betas=cfg.betas
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    torch.manual_seed(cfg.seed + 1000 * info.rank)  # per-rank randomness in the steps (tube masking)
    return model, optimizer, scheduler


def _uses_gradcache(cfg: TrainConfig, objectives: dict) -> bool:
    """Whole-batch negatives under accumulation when every objective is contrastive (GradCache)."""
    gradcache = cfg.grad_accum > 1 and all(isinstance(o, Contrastive) for o in objectives.values())
    if cfg.grad_accum > 1 and not gradcache:
        log.warning(
            "grad_accum %d: objectives %s are not all contrastive; each micro-batch is its own loss",
            cfg.grad_accum,
            sorted(objectives),
        )
    return gradcache


def _loader_config(cfg: TrainConfig, mcfg, family, info: DistInfo, tokenizer_dir: Path) -> ClipLoaderConfig:
    return ClipLoaderConfig(
        batch_size=cfg.batch_size,
        num_frames=getattr(mcfg, "num_frames", 0),
        image_size=getattr(mcfg, "image_size", 0),
        train=True,
        crop_scales=cfg.crop_scales,
        flip=cfg.flip,
        train_crop=cfg.train_crop,
        decode_short_side=cfg.decode_short_side,
        shuffle_buffer=cfg.shuffle_buffer,
        hard_negative_pairs=cfg.hard_negative_pairs,
        seed=cfg.seed,
        rank=info.rank,
        world_size=info.world_size,
        num_workers=cfg.num_workers,
        tokenizer=str(tokenizer_dir),
        context_length=mcfg.context_length,
        sample=family.sample,
        model_config=mcfg,
    )


# --- one optimisation step ------------------------------------------------------------------------


def optimisation_step(run: Run) -> StepResult:
    """``grad_accum`` micro-batches, their gradients, clipping, the update (skipped on every rank when
    the loss or the gradient is not finite), the schedule; advances ``run.step``."""
    started = time.perf_counter()
    cfg, info = run.cfg, run.info
    run.optimizer.zero_grad(set_to_none=True)
    micro_batches = []
    for _ in range(cfg.grad_accum):
        batch = next(run.batches)
        run.loader_state.advance(batch)
        micro_batches.append(to_device(batch, info.device))
    ctx = ObjectiveContext(info.rank, info.world_size, run.step, info.device, cfg, run.mcfg)
    accumulate = accumulate_contrastive if run.gradcache else accumulate_per_micro_batch
    step_loss, step_losses = accumulate(run.train_step, run.objectives, micro_batches, ctx, run.weights)
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    finite = all_true(bool(torch.isfinite(step_loss)) and bool(torch.isfinite(grad_norm)), info)
    if finite:
        run.optimizer.step()
        clamp_logit_scale(run.model, run.mcfg)
    else:  # NaN/inf guard: skip the update on every rank, keep the schedule and data moving
        run.nan_skips += 1
        run.optimizer.zero_grad(set_to_none=True)
        log.warning(
            "step %d: non-finite loss or gradient (loss %s, grad norm %s); update skipped",
            run.step,
            float(step_loss),
            float(grad_norm),
        )
    lr = run.scheduler.get_last_lr()[0]  # the rate this step used
    run.scheduler.step()
    run.step += 1
    run.steps_this_run += 1
    # each rank's loss is scaled so that DDP's gradient mean is the global one: its mean is the loss
    run.last_loss = float(all_reduce_mean(step_loss, info))
    named = all_reduce_mean(torch.stack(list(step_losses.values())), info)
    losses = dict(zip(step_losses, named.tolist()))
    return StepResult(run.last_loss, losses, lr, grad_norm, finite, time.perf_counter() - started)


# --- log ------------------------------------------------------------------------------------------


def log_step(run: Run, result: StepResult) -> None:
    """metrics.jsonl / TensorBoard every ``log_every`` steps, the last one and any skipped update; the
    progress bar every step (rank 0)."""
    cfg, info = run.cfg, run.info
    clips_per_s = cfg.batch_size * cfg.grad_accum * info.world_size / result.seconds
    log_now = run.step % cfg.log_every == 0 or run.step == cfg.steps or not result.finite  # the same on every rank
    if log_now:
        run.skipped = _skipped_on_all_ranks(run.loader_state, info)
    if not info.is_main:
        return
    if log_now:
        run.metrics.write(
            run.step,
            {
                "loss": result.loss,
                "losses": result.losses,
                "lr": result.lr,
                **_logit_scale(run.model),
                "grad_norm": float(result.grad_norm),
                "clips_per_s": clips_per_s,
                "nan_skips": run.nan_skips,
                "skipped_samples": run.skipped,
                **_memory(info.device),
            },
        )
    if run.bar is not None:
        run.bar.set_postfix(
            loss=f"{result.loss:.4f}",
            clips_s=f"{clips_per_s:.1f}",
            skipped=sum(run.skipped.values()),
            nan=run.nan_skips,
        )
        run.bar.update(1)


# --- checkpoint -----------------------------------------------------------------------------------


def save(run: Run) -> None:
    """A checkpoint of the step (a collective: every rank's RNG and loader state), written by rank 0;
    the oldest beyond ``keep_checkpoints`` removed."""
    rng_states = gather_objects(ckpt.rng_state(), run.info)
    data_states = gather_objects(run.loader_state.to_dict(), run.info)
    if run.info.is_main:
        ckpt.save_checkpoint(
            {
                "step": run.step,
                "nan_skips": run.nan_skips,
                "world_size": run.info.world_size,
                "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                "rng": rng_states,
                "data": data_states,
                "config": run.cfg.to_dict(),
                "family": run.family.name,
                "model_config": _model_config_dict(run.mcfg),
                "tokenizer": str(run.tokenizer_dir.resolve()),
            },
            ckpt.checkpoint_path(run.run_dir, run.step),
        )
        ckpt.prune_checkpoints(run.run_dir, run.cfg.keep_checkpoints)
    barrier(run.info)


def finish(run: Run, terminated: bool) -> dict:
    """Stop the loader, close the bar and the log; the run's summary."""
    run.batches = None  # stops the loader's workers
    if run.bar is not None:
        run.bar.close()
    summary = {
        "step": run.step,
        "loss": run.last_loss,
        "nan_skips": run.nan_skips,
        "terminated": terminated,
        "skipped_samples": _skipped_on_all_ranks(run.loader_state, run.info),
        "checkpoint": str(ckpt.checkpoint_path(run.run_dir, run.step)),
    }
    if run.metrics is not None:
        run.metrics.close()
        log.info("done: %s", summary)
    return summary


@contextmanager
def _catch_sigterm():
    """Yields a list that gets an entry when SIGTERM arrives (preemption): the loop then stops after
    the step in progress and writes a checkpoint, instead of dying mid-step."""
    import signal

    received = []
    try:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    except ValueError:  # not the main thread (e.g. run from a thread in a notebook): no handler
        yield received
        return
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def _skipped_on_all_ranks(loader_state: LoaderState, info: DistInfo) -> dict:
    """Skipped samples by reason, summed over the loaders of every rank (a collective: call on all)."""
    total = Counter()
    for counts in gather_objects(dict(loader_state.skipped()), info):
        total.update(counts)
    return dict(total)


def _logit_scale(model: nn.Module) -> dict:
    if not isinstance(getattr(model, "logit_scale", None), torch.Tensor):
        return {}
    return {"logit_scale": float(model.logit_scale.detach().exp())}


def _memory(device: torch.device) -> dict:
    if device.type != "cuda":
        return {}
    return {"max_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30}


def _model_config_dict(mcfg) -> dict:
    import dataclasses

    return dataclasses.asdict(mcfg)
