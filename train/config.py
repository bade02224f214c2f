"""Training configuration: one dataclass, named presets as functions, and ``key=value`` overrides.

Torch-free, so ``python -m train --help`` stays fast. The model is configured by a model preset of a
registered family (``train.registry``) named in ``TrainConfig.model`` plus ``model_overrides``; the
presets of this config are the families' train presets.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Optional

LR_SCHEDULES = ("cosine", "linear", "step")
TRAIN_CROPS = ("multiscale", "center")


@dataclass(frozen=True)
class TrainConfig:
    # --- model ---
    model: str = "vidla-b32"  # a model preset of a registered family (train.registry); picks the family
    model_overrides: dict = field(default_factory=dict)  # ModelConfig fields to change (CLI: model.FIELD=VALUE)
    clip_weights: Optional[str] = None  # folder of OpenAI CLIP weights (CLIPModel.save_pretrained); None: random init
    init_from: Optional[str] = None  # weights-only start from this checkpoint (file or run folder) of
    # another run: tensors matched by name and shape; optimizer, step and data start afresh
    freeze: tuple = ()  # parameter-name glob patterns (fnmatch) kept frozen, e.g. text_model.*
    grad_checkpointing: bool = False  # recompute transformer layers in backward (memory for time)
    compile: bool = False  # torch.compile the training step (H100, B/16: 1.5x faster steps)
    # --- text ---
    tokenizer: str = "openai/clip-vit-base-patch32"  # CLIP tokenizer folder or hub name; "": train a small BPE
    # on the shard texts into RUN_DIR/tokenizer (offline tiny runs only)
    tokenizer_vocab_size: int = 1000  # vocabulary of that small BPE
    tokenizer_kind: str = "clip"  # what tokenizer="" learns: "clip" (CLIP's BPE) or "wordpiece" (BERT's)
    # --- data ---
    crop_scales: tuple = (1.0, 0.8)  # multi-scale random crop (VidLA section 5): crop side / short side
    train_crop: str = "multiscale"  # training crop: "multiscale" (random, crop_scales) or "center" (the
    # eval crop: VidLA's fine-tuning, the long-video recipe)
    flip: bool = True  # random horizontal flip in training (the paper's default); false keeps "left" and
    # "right" in the texts true of the frames
    decode_short_side: Optional[int] = 280  # scale frames at decode to this short side (>= image_size / 0.8)
    shuffle_buffer: int = 1000  # samples in each loader stream's shuffle buffer
    # ours, not VidLA's: batches of pairs of texts alike but not the same (train.data.shards.partner_of),
    # so that each clip meets a hard negative in its batch; pairs come from the shuffle buffer
    hard_negative_pairs: bool = False
    num_workers: int = 8  # DataLoader worker processes per rank
    # --- optimisation (VidLA section 5 and appendix A.1) ---
    batch_size: int = 32  # clips per rank per micro-batch (paper: 4096 global on 128 GPUs)
    grad_accum: int = 1  # micro-batches per optimizer step
    steps: int = 600_000  # optimizer steps (paper: 3 epochs of YT-VidLA-800M at batch 4096)
    lr: float = 2e-5  # peak learning rate
    min_lr: float = 4e-8  # learning rate at the end of the decay
    warmup_steps: int = 2000  # linear warm-up from 0 to lr
    # decay after the warm-up: "cosine" (VidLA), "linear" (HD-VILA, VIMPAC) or "step" (x0.1 at half and
    # again at three quarters of the decay: HD-VILA's "multi-step decay" for fine-tuning)
    lr_schedule: str = "cosine"
    # a run that is one part of a longer schedule (VIMPAC's last epochs at a higher resolution, started
    # from the first part with init_from): the schedule's whole length (0: steps) and the step of it
    # this run starts at
    schedule_steps: int = 0
    schedule_offset: int = 0
    weight_decay: float = 0.02  # AdamW weight decay (not on norms, biases, embeddings, logit_scale)
    # parameter-name glob -> learning-rate multiplier (ours, not the paper's: VidLA trains every parameter
    # at one rate), e.g. lr_scales=*temporal*:10,*mst*:10 for the parameters CLIP does not initialise;
    # a parameter takes the first pattern it matches
    lr_scales: dict = field(default_factory=dict)
    betas: tuple = (0.9, 0.999)  # AdamW betas
    grad_clip: float = 10.0  # max global gradient norm
    precision: str = "bf16"  # "bf16": autocast on CUDA (CPU runs stay fp32); "fp32": never autocast
    seed: int = 0  # seeds model init, data order and augmentation
    loss_weights: dict = field(
        default_factory=dict
    )  # loss name -> weight, over the family's defaults (CLI: loss_weights=caption:1,subtitle:0.5)
    # --- bookkeeping ---
    log_every: int = 10  # steps between TensorBoard / metrics.jsonl records
    checkpoint_every: int = 1000  # steps between checkpoints (one is always written at the end)
    keep_checkpoints: int = 3  # most recent checkpoints kept on disk

    def __post_init__(self) -> None:
        problems = []
        if self.precision not in ("bf16", "fp32"):
            problems.append(f"precision {self.precision!r} is not 'bf16' or 'fp32'")
        for name in (
            "batch_size",
            "grad_accum",
            "steps",
            "log_every",
            "checkpoint_every",
            "keep_checkpoints",
        ):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.grad_clip > 0:  # 0 would scale every gradient to 0: a run that silently learns nothing
            problems.append(f"grad_clip must be > 0 (inf: no clipping), got {self.grad_clip}")
        if self.warmup_steps < 0:
            problems.append(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.train_crop not in TRAIN_CROPS:
            problems.append(f"train_crop {self.train_crop!r} is not one of {TRAIN_CROPS}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule {self.lr_schedule!r} is not one of {LR_SCHEDULES}")
        if self.schedule_offset < 0 or self.schedule_steps < 0:
            problems.append("schedule_steps and schedule_offset must be >= 0")
        elif self.schedule_steps and self.schedule_offset + self.steps > self.schedule_steps:
            problems.append(
                f"schedule_offset {self.schedule_offset} + steps {self.steps} run past "
                f"schedule_steps {self.schedule_steps}"
            )
        if not 0 <= self.min_lr <= self.lr:
            problems.append(f"min_lr {self.min_lr} must lie in [0, lr={self.lr}]")
        if not self.crop_scales or not all(isinstance(s, (int, float)) and 0 < s <= 1 for s in self.crop_scales):
            problems.append(f"crop_scales {self.crop_scales} must be in (0, 1]")
        if not all(isinstance(w, (int, float)) and w > 0 for w in self.lr_scales.values()):
            problems.append(f"lr_scales {self.lr_scales} must be numbers > 0")
        if not all(isinstance(w, (int, float)) and w >= 0 for w in self.loss_weights.values()):
            problems.append(f"loss_weights {self.loss_weights} must be numbers >= 0")
        if self.tokenizer_kind not in ("clip", "wordpiece"):
            problems.append(f"tokenizer_kind {self.tokenizer_kind!r} is not 'clip' or 'wordpiece'")
        if not all(isinstance(p, str) and p for p in self.freeze):
            problems.append(f"freeze {self.freeze} must be parameter-name patterns")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        for name in ("crop_scales", "betas", "freeze"):
            if name in d:
                d[name] = tuple(d[name])
        return cls(**d)


def model_config(cfg: TrainConfig):
    """The model config (of the model preset's family) this training config trains."""
    from train.registry import family_of_model, model_preset

    mcfg = model_preset(cfg.model)
    changes = {}
    if hasattr(mcfg, "grad_checkpointing"):
        changes["grad_checkpointing"] = cfg.grad_checkpointing or mcfg.grad_checkpointing
    if cfg.clip_weights:
        if not hasattr(mcfg, "clip_weights"):
            raise ValueError(f"model {cfg.model!r} has no clip_weights to set")
        changes["clip_weights"] = cfg.clip_weights
    overrides = _coerce_fields(family_of_model(cfg.model).model_config, cfg.model_overrides)
    return dataclasses.replace(mcfg, **{**changes, **overrides})


def get_preset(name: str) -> TrainConfig:
    """A train preset of any family by name; a bare model preset name trains with its family's
    default recipe (every VidLA ablation with the VidLA-B/32 one)."""
    from train.registry import families, family_of_model, resolve_alias, train_presets

    presets = train_presets()
    name = resolve_alias(name)
    if name in presets:
        return presets[name]()
    try:
        family = family_of_model(name)
    except ValueError:
        import difflib

        models = sorted(m for f in families().values() for m in f.model_presets)
        aliases = [a for f in families().values() for a in f.aliases]
        close = difflib.get_close_matches(name, [*presets, *models, *aliases], 1, 0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(
            f"unknown config {name!r}; {hint}expected one of {sorted(presets)} or a model preset ({models})"
        ) from None
    return family.train_presets[family.default_preset]().replace(model=name)


def _parse_value(text: str, annotation):
    """Parse a command-line string into the type of a dataclass field."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Union:  # Optional[X]
        if text.lower() in ("none", "null", ""):
            return None
        return _parse_value(text, args[0])
    if annotation is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {text!r}")
    if annotation is tuple or origin is tuple:
        return tuple(_parse_number(part) for part in text.split(",") if part)
    if annotation is dict or origin is dict:  # "name:value,name:value"
        pairs = [part.split(":", 1) for part in text.split(",") if part]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(f"not name:value pairs: {text!r}")
        return {name.strip(): _parse_number(value) for name, value in pairs}
    if annotation in (int, float):
        return annotation(float(text)) if annotation is int and "e" in text.lower() else annotation(text)
    return text


def _parse_number(text: str):
    """An int, a float, or else the text itself (tuples of names such as freeze patterns)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _coerce_fields(cls, values: dict) -> dict:
    """``{name: str or value}`` -> typed values for the fields of dataclass ``cls``; unknown names fail."""
    hints = typing.get_type_hints(cls)
    out = {}
    for name, value in values.items():
        if name not in hints or name.startswith("_"):
            raise ValueError(f"unknown {cls.__name__} field {name!r}; fields: {sorted(hints)}")
        try:
            out[name] = _parse_value(value, hints[name]) if isinstance(value, str) else value
        except ValueError as exc:
            raise ValueError(f"bad value for {cls.__name__}.{name}: {exc}") from exc
    return out


def parse_overrides(tokens: list) -> dict:
    """``["--steps", "20", "--batch-size=4", "lr=1e-4", "model.tube_mask_ratio=0.5"]`` ->
    ``{"steps": "20", "batch_size": "4", "lr": "1e-4", "model.tube_mask_ratio": "0.5"}``."""
    out, i = {}, 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--"):
            name = token[2:]
            if "=" in name:
                name, value = name.split("=", 1)
            elif i + 1 < len(tokens):
                value, i = tokens[i + 1], i + 1
            else:
                raise ValueError(f"override {token} has no value")
        elif "=" in token:
            name, value = token.split("=", 1)
        else:
            raise ValueError(f"cannot read override {token!r}: use --name VALUE or name=VALUE")
        out[name.replace("-", "_")] = value
        i += 1
    return out


def apply_overrides(cfg: TrainConfig, overrides: dict) -> TrainConfig:
    """A new config with ``overrides`` (strings parsed by field type; ``model.X`` goes to model_overrides)."""
    model_changes = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("model.")}
    changes = _coerce_fields(TrainConfig, {k: v for k, v in overrides.items() if not k.startswith("model.")})
    if model_changes:
        from train.registry import family_of_model

        family = family_of_model(changes.get("model", cfg.model))
        typed = _coerce_fields(family.model_config, model_changes)
        changes["model_overrides"] = {**cfg.model_overrides, **typed}
    return cfg.replace(**changes)
