"""HD-VILA (seed 000): a hybrid video encoder over one high-resolution frame and 2N low-resolution
neighbours per segment, a BERT language encoder, contrastive matching (stage 1) and masked language
modelling over language + video tokens (stage 2). Registered as the trainer's family ``hdvila``.
Torch-free at import (the model library is ``.model``, ``.video``, ``.bert``, ``.resnet``).

    python -m train fit --config hdvila-tiny-cpu --shards DIR --output RUN1
    python -m train fit --config hdvila-tiny-cpu-stage2 --shards DIR --output RUN2 init_from=RUN1
"""

from __future__ import annotations

from train.config import TrainConfig
from train.registry import Family, register_family

from .config import PRESETS, HDVILAConfig, hdvila_paper, tiny_cpu

# Parameter-name globs (fnmatch) of what each stage trains; the other stage freezes them.
STAGE1_PARAMETERS = (
    "video.*",
    "text.embeddings.*",
    "text.language_layers.*",
    "text.pooler.*",
    "video_projection.*",
    "text_projection.*",
    "logit_scale",
)
STAGE2_PARAMETERS = ("text.fusion_layers.*", "visual_embeddings.*", "mlm_head.*")

__all__ = [
    "PRESETS",
    "STAGE1_PARAMETERS",
    "STAGE2_PARAMETERS",
    "HDVILAConfig",
    "build_model",
    "hdvila_paper",
    "tiny_cpu",
]


def build_model(cfg: HDVILAConfig):
    """An HD-VILA model for ``cfg``, initialised from ``cfg.resnet_weights`` / ``cfg.bert_weights``
    where set (random init otherwise)."""
    from .model import HDVILA
    from .weights import load_weights

    model = HDVILA(cfg)
    load_weights(model, cfg)
    return model


def tiny_cpu_stage1() -> TrainConfig:
    """Stage 1 on a laptop CPU: the tiny model, a WordPiece vocabulary learnt from the shards, HR frames
    decoded at a 72-pixel short side (64x128 crops), contrastive matching only."""
    return TrainConfig(
        model="hdvila-tiny-cpu",
        tokenizer="",
        tokenizer_kind="wordpiece",
        tokenizer_vocab_size=1000,
        decode_short_side=72,
        shuffle_buffer=16,
        num_workers=0,
        batch_size=4,
        steps=20,
        lr=1e-3,
        min_lr=1e-5,
        warmup_steps=2,
        weight_decay=1e-3,
        betas=(0.9, 0.98),
        grad_clip=5.0,
        precision="fp32",
        log_every=1,
        checkpoint_every=10,
        freeze=STAGE2_PARAMETERS,
    )


def tiny_cpu_stage2() -> TrainConfig:
    """Stage 2 of the tiny recipe: MLM with the stage-1 parameters frozen; pass init_from=STAGE1_RUN."""
    return tiny_cpu_stage1().replace(freeze=STAGE1_PARAMETERS, loss_weights={"contrastive": 0.0, "mlm": 1.0})


# Section 5.1: "trained with five epochs for stage one and five epochs for stage two" of HD-VILA-100M
# ("100M video clip and sentence pairs", section 1) on 64 V100s.
PAPER_EPOCHS = 5
PAPER_CLIPS = 100_000_000
PAPER_GPUS = 64


def epochs_to_steps(
    cfg: TrainConfig, epochs: float = PAPER_EPOCHS, clips: int = PAPER_CLIPS, gpus: int = PAPER_GPUS
) -> int:
    """Optimizer steps that show ``clips`` ``epochs`` times at ``cfg``'s batch on ``gpus`` GPUs."""
    return round(epochs * clips / (cfg.batch_size * cfg.grad_accum * gpus))


def _paper_schedule(cfg: TrainConfig) -> TrainConfig:
    """Five epochs at the config's global batch; warm-up 1% of them (the paper gives none), then the
    paper's linear decay."""
    steps = epochs_to_steps(cfg)
    return cfg.replace(steps=steps, warmup_steps=steps // 100, lr_schedule="linear")


def paper_stage1() -> TrainConfig:
    """HD-VILA (arXiv:2111.10337) section 5.1, stage 1: contrastive matching on HD-VILA-100M, AdamW at
    5e-5 decayed linearly after a warm-up, weight decay 1e-3, batch 512 (8 per GPU on 64 GPUs), five
    epochs (976,562 steps), HR frames at the source's 720p. Set model.resnet_weights /
    model.bert_weights to local ResNet-50 and bert-large-uncased folders and tokenizer to a
    bert-base-uncased folder (the same WordPiece vocabulary)."""
    return _paper_schedule(
        TrainConfig(
            model="hdvila",
            tokenizer="bert-base-uncased",
            tokenizer_kind="wordpiece",
            decode_short_side=None,
            batch_size=8,
            lr=5e-5,
            min_lr=0.0,
            weight_decay=1e-3,
            betas=(0.9, 0.98),  # the released configs
            grad_clip=5.0,  # the released configs
            freeze=STAGE2_PARAMETERS,
        )
    )


def paper_stage2() -> TrainConfig:
    """HD-VILA section 5.1, stage 2: MLM, five epochs (244,141 steps of 2048 clips), the stage-1 weights
    loaded (init_from=STAGE1_RUN) and frozen (the released code's freeze_s1); batch 16 x 2 accumulated
    per GPU as its stage-2 config."""
    return _paper_schedule(
        paper_stage1().replace(
            batch_size=16,
            grad_accum=2,
            freeze=STAGE1_PARAMETERS,
            loss_weights={"contrastive": 0.0, "mlm": 1.0},
        )
    )


HDVILA_FAMILY = register_family(
    Family(
        name="hdvila",
        model_config=HDVILAConfig,
        model_presets=dict(PRESETS),
        train_presets={
            "hdvila-tiny-cpu": tiny_cpu_stage1,
            "hdvila-tiny-cpu-stage2": tiny_cpu_stage2,
            "hdvila": paper_stage1,
            "hdvila-stage2": paper_stage2,
        },
        default_preset="hdvila",
        build="train.families.hdvila.model:HDVILA",
        load_weights="train.families.hdvila.weights:load_weights",
        sample="train.families.hdvila.data:sample",
        video_inputs="train.families.hdvila.data:video_inputs",
        objectives={
            "contrastive": "train.families.hdvila.objectives:CONTRASTIVE",
            "mlm": "train.families.hdvila.objectives:MLM",
        },
        loss_weights={"contrastive": 1.0, "mlm": 0.0},
        scoring="dual",
        temperature=True,
        tasks=("zero-shot-classification", "multiple-choice", "retrieval-finetune"),
    )
)
