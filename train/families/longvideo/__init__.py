"""The long-video recipe of seed 003 (family ``longvideo``): a video-first CLIP (ViViT, joint space-time
attention over Conv3d tubelets inflated from CLIP's patch kernel, mean pooled), trained contrastively in
two stages, frames at 1 FPS: images mixed with short clips (stage 1; images from image-text shards
given after the videos), then whole videos with 75% of the tokens masked and the early layers frozen,
starting from stage 1 (stage 2, ``init_from``). Torch-free: registering the family imports no torch.

    python -m train fit --config longvideo-tiny-cpu --shards 'DIR::IMAGE_SHARDS' --output RUN1
    python -m train fit --config longvideo-tiny-cpu-long --shards DIR --output RUN2 init_from=RUN1
"""

from __future__ import annotations

from train.config import TrainConfig
from train.registry import Family, register_family

from .config import MODEL_PRESETS, LongVideoConfig

__all__ = ["LongVideoConfig", "MODEL_PRESETS", "build_model", "LONGVIDEO"]

# Stage 2 tunes the last layers only (section 6.1: "contrastively tuning only the last four layers"):
# the tubelet, image patch and position embeddings, the pre-LN and the first layers of the video tower
# stay frozen.
FROZEN_EMBEDDINGS = ("vision_model.embeddings.*", "vision_model.pre_layrnorm.*")


def tiny_cpu() -> TrainConfig:
    """Stage 1 in seconds per step on a CPU: the tiny model, a BPE tokenizer trained on the shards; images
    mix in from image-text shards given after the videos (--shards 'VIDEOS::IMAGES')."""
    return TrainConfig(
        model="longvideo-tiny-cpu",
        tokenizer="",
        tokenizer_vocab_size=600,
        train_crop="center",  # appendix B: "we center-crop all frames and do not consider additional
        flip=False,  # data augmentation"
        decode_short_side=96,
        shuffle_buffer=16,
        num_workers=0,
        batch_size=4,
        steps=20,
        lr=1e-4,
        min_lr=1e-6,
        warmup_steps=2,
        weight_decay=1e-2,
        grad_clip=2.0,
        precision="fp32",
        log_every=1,
        checkpoint_every=10,
    )


def tiny_cpu_long() -> TrainConfig:
    """Stage 2 of the tiny recipe: 32 frames, 75% masking, video clips only, layer 0 frozen. Give it
    ``init_from=RUN1`` (stage 1's run; its tokenizer comes with it, so the token ids keep their meaning)."""
    return tiny_cpu().replace(
        model="longvideo-tiny-cpu-long", steps=10, freeze=FROZEN_EMBEDDINGS + ("vision_model.encoder.layers.0.*",)
    )


def b16_short() -> TrainConfig:
    """Stage 1, image-to-short-video (arXiv:2312.07395, section 3.1, table 4 column 1): SHORTViViT-B/16 on
    a mixture of images and 16-frame videos at 1 FPS (--shards 'VIDEOS::IMAGES'), AdamW, lr 5e-5, 1k
    warm-up, cosine, clip 2.0, weight decay 1e-2, 800k steps, batch 512 (64 per GPU on 8 GPUs), centre
    crop, no augmentation; set clip_weights to OpenAI's ViT-B/16."""
    return TrainConfig(
        model="longvideo-b16-short",
        tokenizer="openai/clip-vit-base-patch16",
        train_crop="center",
        flip=False,
        decode_short_side=256,
        batch_size=64,
        steps=800_000,
        lr=5e-5,
        min_lr=0.0,
        warmup_steps=1000,
        weight_decay=1e-2,
        grad_clip=2.0,
    )


def b16_long() -> TrainConfig:
    """Stage 2, short-to-long (section 6.1 "Scaling to longer videos", table 4 column 2): LONGViViT-B/16,
    50k steps from stage 1 (``init_from``) on whole videos, 128 frames at 1 FPS, 75% masking, layers 0-7
    frozen (the last four tuned), gradient checkpointing."""
    return b16_short().replace(
        model="longvideo-b16-long",
        steps=50_000,
        grad_checkpointing=True,
        freeze=FROZEN_EMBEDDINGS + ("vision_model.encoder.layers.[0-7].*",),
    )


LONGVIDEO = register_family(
    Family(
        name="longvideo",
        model_config=LongVideoConfig,
        model_presets=dict(MODEL_PRESETS),
        train_presets={
            "longvideo-tiny-cpu": tiny_cpu,
            "longvideo-tiny-cpu-long": tiny_cpu_long,
            "longvideo-b16-short": b16_short,
            "longvideo-b16-long": b16_long,
        },
        default_preset="longvideo-b16-short",
        build="train.families.longvideo.model:LongVideoCLIP",
        load_weights="train.families.longvideo.weights:load_configured_clip",
        sample="train.families.longvideo.data:longvideo_sample",
        video_inputs="train.families.longvideo.data:video_inputs",
        # video-text InfoNCE: "subtitle" (the subtitle summary where there is one: HowTo100M Summary's role
        # in stage 2); the frame-caption loss the paper does not have is off unless weighted
        objectives={"video_text": "train.families.longvideo.objectives:VIDEO_TEXT"},
        loss_weights={"subtitle": 1.0, "caption": 0.0},
        scoring="dual",
        temperature=True,
        tasks=("zero-shot-classification", "multiple-choice", "long-video-retrieval"),
    )
)


def build_model(cfg: LongVideoConfig):
    """A LongVideoCLIP for `cfg`, initialised from `cfg.clip_weights` when set."""
    from .model import LongVideoCLIP  # torch is imported only when a model is built
    from .weights import load_clip

    model = LongVideoCLIP(cfg)
    if cfg.clip_weights is not None:
        load_clip(model, cfg.clip_weights)
    return model
