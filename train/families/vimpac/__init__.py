"""VIMPAC (seed 002): masked token prediction on frozen dVAE codes + clip contrastive learning.
Torch-free: registers the family; the model is ``train.families.vimpac.model``."""

from __future__ import annotations

from train.config import TrainConfig
from train.families.vimpac.config import PRESETS, VimpacConfig
from train.registry import Family, register_family


def vimpac_tiny_cpu() -> TrainConfig:
    """Seconds per step on a CPU: 4 frames of 64^2 per window, a random frozen dVAE (8192 codes)."""
    return TrainConfig(
        model="vimpac-tiny", tokenizer="", tokenizer_vocab_size=600, decode_short_side=96,
        shuffle_buffer=16, num_workers=0, batch_size=4, steps=20, lr=1e-3, min_lr=1e-5,
        warmup_steps=2, betas=(0.9, 0.98), weight_decay=0.05, grad_clip=1.0, precision="fp32",
        log_every=1, checkpoint_every=10,
    )


def vimpac_small() -> TrainConfig:
    """The analysis recipe (table 11 'Pre-Train (Analysis)'): 12K updates of 1024 clips, lr 1e-3,
    10% warm-up, AdamW (0.9, 0.98), weight decay 0.05, clipping at 1.0 (8 GPUs x 16 x 8 accumulated)."""
    return TrainConfig(
        model="vimpac-small", batch_size=16, grad_accum=8, steps=12_000, lr=1e-3, min_lr=0.0,
        warmup_steps=1_200, betas=(0.9, 0.98), weight_decay=0.05, grad_clip=1.0,
    )


def vimpac_large_half() -> TrainConfig:
    """The results recipe (table 11 'Pre-Train (Results)'): 120K updates of 1024 clips, lr 3e-4, 5% warm-up."""
    return vimpac_small().replace(model="vimpac-large-half", steps=120_000, lr=3e-4, warmup_steps=6_000,
                                  grad_checkpointing=True)


VIMPAC = register_family(
    Family(
        name="vimpac",
        model_config=VimpacConfig,
        model_presets=dict(PRESETS),
        train_presets={
            "vimpac-tiny-cpu": vimpac_tiny_cpu,
            "vimpac-small": vimpac_small,
            "vimpac-large-half": vimpac_large_half,
        },
        default_preset="vimpac-small",
        build="train.families.vimpac.model:build_vimpac",
        load_weights="train.families.vimpac.model:load_dvae_weights",
        sample="train.families.vimpac.data:vimpac_sample",
        video_inputs="train.families.vimpac.data:video_inputs",
        objectives={"vimpac": "train.families.vimpac.objectives:mask_then_predict_and_contrast"},
        loss_weights={"mask": 1.0, "contrastive": 1.0},  # L_mask + alpha * gamma * L_cl, alpha = 1
    )
)
