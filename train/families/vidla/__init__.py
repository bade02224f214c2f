"""VidLA (arXiv:2403.14870), its CLIP4Clip meanP baseline and its ablations (family ``vidla``). Torch-free:
registers the family; the model config and presets are ``.config``, the model ``.model``, the CLIP weight
loader ``.weights``, the objective (equation 3) ``.objectives``; the towers and attention are the shared
library train.model, the sample function the shared train.data.samples (E-ViLM's tokenizer reads the
same frames).

    python -m train fit --config vidla-tiny-cpu --shards DIR --output RUN
"""

from __future__ import annotations

from train.config import TrainConfig
from train.registry import Family, register_family

from .config import PRESETS as MODEL_PRESETS
from .config import ModelConfig


def vidla_tiny_cpu() -> TrainConfig:
    """A few seconds per step on a laptop CPU: the tiny model, a BPE tokenizer trained on the shards."""
    return TrainConfig(
        model="vidla-tiny-cpu",
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


def vidla_b32_finetune() -> TrainConfig:
    """Retrieval fine-tuning (VidLA, arXiv:2403.14870, appendix A.2): 32 frames, AdamW lr 1e-5 cosine to
    1e-6 from the first step (no warm-up is given), weight decay 0.2, batch 128, the centre crop instead
    of the multi-scale crop (and no flip); 440 steps (MSVD; MSR-VTT 2.5x, DiDeMo 2.5x, ActivityNet 2x,
    VATEX 6x). Start it from a pretraining run with init_from=RUN: mst_reference_frames=12 keeps the
    [MST] levels of a 12-frame checkpoint on the same moments of the clip, and the temporal embedding is
    interpolated to those moments."""
    return TrainConfig(
        model="vidla-b32",
        model_overrides={"num_frames": 32, "mst_reference_frames": 12},
        lr=1e-5,
        min_lr=1e-6,
        lr_schedule="cosine",
        weight_decay=0.2,
        batch_size=128,
        train_crop="center",
        flip=False,
        steps=440,
        warmup_steps=0,
        checkpoint_every=220,
    )


def vidla_b16_finetune() -> TrainConfig:
    """VidLA-B/16 retrieval fine-tuning (appendix A.2): as vidla-b32-finetune at batch 196, with gradient
    checkpointing."""
    return vidla_b32_finetune().replace(
        model="vidla-b16", tokenizer="openai/clip-vit-base-patch16", batch_size=196, grad_checkpointing=True
    )


VIDLA = register_family(
    Family(
        name="vidla",
        model_config=ModelConfig,
        model_presets=dict(MODEL_PRESETS),
        train_presets={
            "vidla-tiny-cpu": vidla_tiny_cpu,
            "vidla-b32": vidla_b32,
            "vidla-b16": vidla_b16,
            "meanp-b32": meanp_b32,
            "vidla-b32-finetune": vidla_b32_finetune,
            "vidla-b16-finetune": vidla_b16_finetune,
        },
        default_preset="vidla-b32",
        build="train.families.vidla.model:VidLA",
        load_weights="train.families.vidla.weights:load_configured_clip_weights",
        sample="train.data.samples:frames_sample",
        video_inputs="train.data.samples:frames_inputs",
        objectives={"video_text": "train.families.vidla.objectives:VIDEO_TEXT"},
        # VidLA equation 3: L_vs + L_vc; ours, off: time_order (each clip above itself reversed for its
        # text) and reversal (a clip's embedding unlike its reversal's), train.families.vidla.objectives
        loss_weights={"subtitle": 1.0, "caption": 1.0, "time_order": 0.0, "reversal": 0.0},
        aliases={"tiny-cpu": "vidla-tiny-cpu"},
        scoring="dual",
        temperature=True,
        tasks=("zero-shot-classification", "multiple-choice"),
        at_frames="train.families.vidla.model:at_frames",  # zero-shot classification at 32 frames (appendix D)
    )
)
