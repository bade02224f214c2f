"""VIMPAC (seed 002): masked token prediction on frozen dVAE codes + clip contrastive learning.
Torch-free: registers the family; the model is ``train.families.vimpac.model``."""

from __future__ import annotations

from train.config import TrainConfig
from train.families.vimpac.config import PRESETS, VimpacConfig
from train.registry import Family, register_family


def vimpac_tiny_cpu() -> TrainConfig:
    """Seconds per step on a CPU: 4 frames of 64^2 per window, a random frozen dVAE (8192 codes)."""
    return TrainConfig(
        model="vimpac-tiny",
        tokenizer="",
        tokenizer_vocab_size=600,
        decode_short_side=96,
        shuffle_buffer=16,
        num_workers=0,
        batch_size=4,
        steps=20,
        lr=1e-3,
        min_lr=1e-5,
        warmup_steps=2,
        lr_schedule="linear",
        betas=(0.9, 0.98),
        weight_decay=0.05,
        grad_clip=1.0,
        precision="fp32",
        log_every=1,
        checkpoint_every=10,
    )


def vimpac_tiny_cpu_hr() -> TrainConfig:
    """The tiny recipe's high-resolution stage (as vimpac-large-half-256): frames of 128^2, the last 10 steps
    of a 30-step linear schedule whose first 20 a vimpac-tiny-cpu run with schedule_steps=30 trains; pass
    init_from=THAT_RUN."""
    return vimpac_tiny_cpu().replace(
        model="vimpac-tiny-hr", steps=10, schedule_steps=30, schedule_offset=20, decode_short_side=160
    )


def vimpac_small() -> TrainConfig:
    """VIMPAC (arXiv:2106.11250) table 11 'Pre-Train (Analysis)': 12K updates of 1024 clips, lr 1e-3,
    10% warm-up then linear decay, AdamW (0.9, 0.98), weight decay 0.05, clipping at 1.0 (8 GPUs x 16 x 8
    accumulated); T=5, S=128 throughout, as the analysis runs."""
    return TrainConfig(
        model="vimpac-small",
        batch_size=16,
        grad_accum=8,
        steps=12_000,
        lr=1e-3,
        min_lr=0.0,
        warmup_steps=1_200,
        lr_schedule="linear",
        betas=(0.9, 0.98),
        weight_decay=0.05,
        grad_clip=1.0,
    )


RESULTS_UPDATES = 120_000  # table 11 'Pre-Train (Results)': 100 epochs in 120K updates of 1024 clips
HIGH_RES_UPDATES = RESULTS_UPDATES // 10  # the last 10 epochs at S=256 (section 4.2)


def vimpac_large_half() -> TrainConfig:
    """Table 11 'Pre-Train (Results)', first part (section 4.2): the first 90 of 100 epochs at T=5, S=128,
    lr 3e-4 with 5% warm-up and linear decay over all 120K updates (this run stops at 108K), 255
    negatives per clip (16 clips x 8 GPUs per contrastive batch, 8 accumulated: 1024 per update).
    Continue with vimpac-large-half-256 init_from=THIS_RUN."""
    return vimpac_small().replace(
        model="vimpac-large-half",
        steps=RESULTS_UPDATES - HIGH_RES_UPDATES,
        schedule_steps=RESULTS_UPDATES,
        lr=3e-4,
        warmup_steps=6_000,
        grad_checkpointing=True,
    )


def vimpac_large_half_256() -> TrainConfig:
    """Table 11 'Pre-Train (Results)', the last 10 epochs (section 4.2): T=5, S=256, the position tables
    interpolated from the S=128 run (init_from=RUN), the same linear schedule from update 108K to 120K,
    127 negatives per clip (8 clips x 8 GPUs, 16 accumulated: still 1024 per update). AdamW's moments
    start afresh (a second run)."""
    return vimpac_large_half().replace(
        model="vimpac-large-half-256",
        steps=HIGH_RES_UPDATES,
        schedule_offset=RESULTS_UPDATES - HIGH_RES_UPDATES,
        batch_size=8,
        grad_accum=16,
    )


VIMPAC = register_family(
    Family(
        name="vimpac",
        model_config=VimpacConfig,
        model_presets=dict(PRESETS),
        train_presets={
            "vimpac-tiny-cpu": vimpac_tiny_cpu,
            "vimpac-tiny-cpu-hr": vimpac_tiny_cpu_hr,
            "vimpac-small": vimpac_small,
            "vimpac-large-half": vimpac_large_half,
            "vimpac-large-half-256": vimpac_large_half_256,
        },
        default_preset="vimpac-small",
        build="train.families.vimpac.model:build_vimpac",
        load_weights="train.families.vimpac.model:load_dvae_weights",
        sample="train.families.vimpac.data:vimpac_sample",
        video_inputs="train.families.vimpac.data:video_inputs",
        objectives={"vimpac": "train.families.vimpac.objectives:mask_then_predict_and_contrast"},
        loss_weights={"mask": 1.0, "contrastive": 1.0},  # L_mask + alpha * gamma * L_cl, alpha = 1
        scoring="views",  # no text tower: two windows of a clip retrieve each other
        tasks=("action-linear-probe", "action-finetune"),
    )
)
