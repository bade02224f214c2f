"""Training configuration: one dataclass, named presets as functions, and ``key=value`` overrides.

Torch-free, so ``python -m train --help`` stays fast. The model itself is configured by a preset of
``train.model.PRESETS`` named in ``TrainConfig.model`` plus ``model_overrides``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass(frozen=True)
class TrainConfig:
    # --- model ---
    model: str = "vidla-b32"  # name of a ModelConfig preset in train.model.PRESETS
    model_overrides: dict = field(
        default_factory=dict
    )  # ModelConfig fields to change (CLI: model.FIELD=VALUE)
    clip_weights: Optional[str] = (
        None  # folder of OpenAI CLIP weights (CLIPModel.save_pretrained); None: random init
    )
    grad_checkpointing: bool = False  # recompute transformer layers in backward (memory for time)
    compile: bool = False  # torch.compile the training step (H100, B/16: 1.5x faster steps)
    # --- text ---
    tokenizer: str = (
        "openai/clip-vit-base-patch32"  # CLIP tokenizer folder or hub name; "": train a small BPE
    )
    # on the shard texts into RUN_DIR/tokenizer (offline tiny runs only)
    tokenizer_vocab_size: int = 1000  # vocabulary of that small BPE
    # --- data ---
    crop_scales: tuple = (1.0, 0.8)  # multi-scale random crop (VidLA section 5): crop side / short side
    decode_short_side: Optional[int] = 280  # scale frames at decode to this short side (>= image_size / 0.8)
    shuffle_buffer: int = 1000  # samples in each loader stream's shuffle buffer
    num_workers: int = 8  # DataLoader worker processes per rank
    # --- optimisation (VidLA section 5 and appendix A.1) ---
    batch_size: int = 32  # clips per rank per micro-batch (paper: 4096 global on 128 GPUs)
    grad_accum: int = 1  # micro-batches per optimizer step
    steps: int = 600_000  # optimizer steps (paper: 3 epochs of YT-VidLA-800M at batch 4096)
    lr: float = 2e-5  # peak learning rate
    min_lr: float = 4e-8  # learning rate at the end of the cosine decay
    warmup_steps: int = 2000  # linear warm-up from 0 to lr
    weight_decay: float = 0.02  # AdamW weight decay (not on norms, biases, embeddings, logit_scale)
    betas: tuple = (0.9, 0.999)  # AdamW betas
    grad_clip: float = 10.0  # max global gradient norm
    precision: str = "bf16"  # "bf16": autocast on CUDA (CPU runs stay fp32); "fp32": never autocast
    seed: int = 0  # seeds model init, data order and augmentation
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
        if not 0 <= self.min_lr <= self.lr:
            problems.append(f"min_lr {self.min_lr} must lie in [0, lr={self.lr}]")
        if not self.crop_scales or not all(0 < s <= 1 for s in self.crop_scales):
            problems.append(f"crop_scales {self.crop_scales} must be in (0, 1]")
        if problems:
            raise ValueError("invalid TrainConfig: " + "; ".join(problems))

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        for name in ("crop_scales", "betas"):
            if name in d:
                d[name] = tuple(d[name])
        return cls(**d)


def model_config(cfg: TrainConfig):
    """The ModelConfig this training config trains."""
    from train.model import PRESETS

    if cfg.model not in PRESETS:
        raise ValueError(f"unknown model preset {cfg.model!r}; expected one of {sorted(PRESETS)}")
    mcfg = PRESETS[cfg.model]()
    changes = {"grad_checkpointing": cfg.grad_checkpointing or mcfg.grad_checkpointing}
    if cfg.clip_weights:
        changes["clip_weights"] = cfg.clip_weights
    return mcfg.replace(**{**changes, **_coerce_fields(type(mcfg), cfg.model_overrides)})


def tiny_cpu() -> TrainConfig:
    """A few seconds per step on a laptop CPU: the tiny model, a BPE tokenizer trained on the shards."""
    return TrainConfig(
        model="tiny-cpu",
        tokenizer="",
        tokenizer_vocab_size=600,
        decode_short_side=96,
        shuffle_buffer=16,
        num_workers=0,
        batch_size=4,
        steps=20,
        lr=1e-4,
        min_lr=1e-6,
        warmup_steps=2,
        precision="fp32",
        log_every=1,
        checkpoint_every=10,
    )


def vidla_b32() -> TrainConfig:
    """VidLA-B/32 pretraining (section 5, appendix A.1); set clip_weights to OpenAI's ViT-B/32."""
    return TrainConfig(model="vidla-b32")


def vidla_b16() -> TrainConfig:
    """VidLA-B/16 pretraining, with gradient checkpointing (196 patches x 12 frames per clip)."""
    return TrainConfig(model="vidla-b16", tokenizer="openai/clip-vit-base-patch16", grad_checkpointing=True)


def meanp_b32() -> TrainConfig:
    """The CLIP4Clip meanP baseline trained the same way as VidLA-B/32."""
    return TrainConfig(model="meanp-b32")


PRESETS: dict[str, Callable[[], TrainConfig]] = {
    "tiny-cpu": tiny_cpu,
    "vidla-b32": vidla_b32,
    "vidla-b16": vidla_b16,
    "meanp-b32": meanp_b32,
}


def get_preset(name: str) -> TrainConfig:
    if name in PRESETS:
        return PRESETS[name]()
    from train.model import PRESETS as MODEL_PRESETS

    if name in MODEL_PRESETS:  # every model preset (the ablations) trains with the VidLA-B/32 recipe
        return vidla_b32().replace(model=name)
    raise ValueError(
        f"unknown config {name!r}; expected one of {sorted(PRESETS)} or a model preset "
        f"({sorted(MODEL_PRESETS)})"
    )


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
    if annotation in (int, float):
        return annotation(float(text)) if annotation is int and "e" in text.lower() else annotation(text)
    return text


def _parse_number(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


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
        from train.model import ModelConfig

        typed = _coerce_fields(ModelConfig, model_changes)
        changes["model_overrides"] = {**cfg.model_overrides, **typed}
    return cfg.replace(**changes)
