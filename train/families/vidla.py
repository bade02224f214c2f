"""VidLA (and its CLIP4Clip meanP baseline and ablations): the model library is ``train.model``."""

from __future__ import annotations

from train.config import TrainConfig
from train.model.config import PRESETS as MODEL_PRESETS
from train.model.config import ModelConfig
from train.registry import Family, register_family


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
        },
        default_preset="vidla-b32",
        build="train.model.vidla:VidLA",
        load_weights="train.model.weights:load_configured_clip_weights",
        sample="train.data.samples:frames_sample",
        video_inputs="train.data.samples:frames_inputs",
        objectives={"video_text": "train.objectives.video_text:VIDEO_TEXT"},
        loss_weights={"subtitle": 1.0, "caption": 1.0},  # VidLA equation 3: L_vs + L_vc
        aliases={"tiny-cpu": "vidla-tiny-cpu"},
    )
)
