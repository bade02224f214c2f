"""E-ViLM (seed 004): the semantic VQ video tokenizer (stage 1, family ``evilm-tokenizer``) and the
small video-language model pre-trained with VTM + MLM + MVM against its codes (stage 2, family
``evilm``). Torch-free: registers both families; the models are in this package's modules."""

from __future__ import annotations

from train.config import TrainConfig
from train.families.evilm.config import (
    EvilmConfig,
    SemanticTokenizerConfig,
    evilm_paper,
    evilm_tiny,
    tokenizer_paper,
    tokenizer_tiny,
)
from train.registry import Family, register_family

_TINY = dict(
    tokenizer="",
    tokenizer_vocab_size=600,
    decode_short_side=160,
    shuffle_buffer=16,
    num_workers=0,
    batch_size=4,
    steps=20,
    min_lr=1e-6,
    warmup_steps=2,
    precision="fp32",
    log_every=1,
    checkpoint_every=10,
)


def evilm_tokenizer_tiny_cpu() -> TrainConfig:
    """Stage 1 on a CPU: the tiny tokenizer on the shards' frames and caption words."""
    return TrainConfig(model="evilm-tokenizer-tiny", lr=2e-3, weight_decay=0.01, **_TINY)


def evilm_tokenizer_vit_b() -> TrainConfig:
    """Stage 1 (section 4.1): lr 2e-4, AdamW; 10 epochs of WebVid in the paper. Set clip_weights to
    OpenAI's CLIP ViT-B/32 (the paper's tokenizer encoder is CLIP's ViT)."""
    return TrainConfig(
        model="evilm-tokenizer-vit-b",
        lr=2e-4,
        min_lr=0.0,
        weight_decay=0.01,
        warmup_steps=1000,
        steps=100_000,
        batch_size=64,
        decode_short_side=320,
    )  # 320 = 256 / 0.8: crops stay >= 256


def evilm_tiny_cpu() -> TrainConfig:
    """Stage 2 on a CPU; set model.tokenizer_checkpoint to an evilm-tokenizer-tiny-cpu run for MVM."""
    return TrainConfig(model="evilm-tiny", lr=1e-3, weight_decay=0.01, **_TINY)


def evilm_edgenext_small() -> TrainConfig:
    """Stage 2 (E-ViLM, arXiv:2311.17267, section 4.1): lr 1e-4, weight decay 0.01, VTM + MLM + MVM; 20
    epochs of WebVid in the paper. Set model.tokenizer_checkpoint (stage 1), model.edgenext_weights
    (ImageNet EdgeNeXt-small) and tokenizer=VOCAB, the paper's vocabulary: the 30% most frequent
    WordPieces of COCO's captions (python -m train.families.evilm.vocab). Without it the run learns a
    WordPiece vocabulary of the same 9,157 tokens from the shards' texts."""
    return TrainConfig(
        model="evilm-edgenext-small",
        lr=1e-4,
        min_lr=0.0,
        weight_decay=0.01,
        warmup_steps=1000,
        steps=200_000,
        batch_size=64,
        decode_short_side=320,
        tokenizer="",
        tokenizer_kind="wordpiece",
        tokenizer_vocab_size=9157,
    )


EVILM_TOKENIZER = register_family(
    Family(
        name="evilm-tokenizer",
        model_config=SemanticTokenizerConfig,
        model_presets={"evilm-tokenizer-tiny": tokenizer_tiny, "evilm-tokenizer-vit-b": tokenizer_paper},
        train_presets={
            "evilm-tokenizer-tiny-cpu": evilm_tokenizer_tiny_cpu,
            "evilm-tokenizer-vit-b": evilm_tokenizer_vit_b,
        },
        default_preset="evilm-tokenizer-vit-b",
        build="train.families.evilm.tokenizer:SemanticVQTokenizer",
        load_weights="train.families.evilm.tokenizer:load_clip_vision_weights",
        sample="train.data.samples:frames_sample",
        video_inputs="train.families.evilm.data:video_inputs",
        objectives={"semantic_vq": "train.families.evilm.objectives:tokenizer_stage"},
        loss_weights={"token": 1.0, "vq": 1.0},  # equation 7
        scoring="none",  # a video tokenizer: nothing to retrieve
    )
)

EVILM = register_family(
    Family(
        name="evilm",
        model_config=EvilmConfig,
        model_presets={"evilm-tiny": evilm_tiny, "evilm-edgenext-small": evilm_paper},
        train_presets={"evilm-tiny-cpu": evilm_tiny_cpu, "evilm-edgenext-small": evilm_edgenext_small},
        default_preset="evilm-edgenext-small",
        build="train.families.evilm.model:build_evilm",
        load_weights="train.families.evilm.model:load_pretrained_weights",
        sample="train.families.evilm.data:evilm_sample",
        video_inputs="train.families.evilm.data:video_inputs",
        objectives={"pretraining": "train.families.evilm.objectives:pretraining"},
        loss_weights={"vtm": 1.0, "mlm": 1.0, "mvm": 1.0},  # L = L_MLM + L_VTM + L_MVM
        scoring="fusion",  # the fusion decoder scores (video, text) pairs
        tasks=("zero-shot-classification", "multiple-choice", "video-qa"),
    )
)
