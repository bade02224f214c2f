"""E-ViLM configurations and presets (paper section 4.1): the semantic VQ video tokenizer (stage 1) and
the small video-language model (stage 2). Torch-free."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SemanticTokenizerConfig:
    # --- input ---
    image_size: int = 256  # square frames (paper: 256^2)
    num_frames: int = 4  # T frames per clip
    patch_size: int = 32  # one code per patch; 32 = EdgeNeXt's output stride, so codes align with its grid
    # --- encoder E: a ViT over each frame's patches (paper: CLIP's ViT-B/32, the same layout) ---
    width: int = 768  # encoder width
    layers: int = 12  # encoder layers
    heads: int = 12  # encoder heads
    hidden_act: str = "quick_gelu"  # MLP activation (OpenAI CLIP's)
    clip_weights: Optional[str] = None  # folder of CLIP weights (CLIPModel.save_pretrained) for E; None: random
    # --- codebook ---
    num_codes: int = 9420  # M prototype embeddings (paper: 9,420)
    code_dim: int = 32  # their dimension (paper: 32); look-up on l2-normalised vectors
    # --- decoder D (dropped after training) ---
    decoder_width: int = 512  # width of the decoder's transformer
    decoder_layers: int = 8  # paper: 8 transformer layers
    decoder_heads: int = 8
    vocab_size: int = 49408  # K caption words predicted (the text tokenizer's vocabulary)
    focal_positive_weight: float = 1.0  # weight of the positive-word term of the focal loss (paper: 1)
    context_length: int = 77  # caption tokens read per clip

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.width % self.heads or self.decoder_width % self.decoder_heads:
            raise ValueError("widths must be divisible by their heads")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    def replace(self, **changes) -> "SemanticTokenizerConfig":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class EvilmConfig:
    # --- input ---
    image_size: int = 256  # frames resized to 256^2 (section 4.1)
    num_frames: int = 4  # sparsely sampled frames
    # --- video encoder: EdgeNeXt ---
    edgenext: str = "edgenext_small"  # variant name (train.families.evilm.edgenext.VARIANTS) or "tiny-test"
    edgenext_weights: Optional[str] = None  # timm checkpoint file or hub id (timm/edgenext_small.usi_in1k)
    # --- language encoder: a small BERT ---
    # text token ids (+1 row for [MASK]); the paper's: the 30% most frequent of BERT's 30,522 WordPieces
    # in COCO's captions (section 4.1; python -m train.families.evilm.vocab)
    vocab_size: int = 9157
    context_length: int = 77  # text tokens
    text_width: int = 128  # paper: hidden 128
    text_layers: int = 12  # layers of the language encoder (table 8: 2.4M parameters at width 128)
    text_heads: int = 4  # paper: 4 heads
    # --- multi-modal fusion decoder ---
    fusion_width: int = 384  # paper: 384
    fusion_layers: int = 4  # paper: 4 transformer blocks
    fusion_heads: int = 6
    # --- pre-training ---
    mvm_ratio: float = 0.4  # BEiT blockwise masking of each frame's patches (section 4.1: 40%)
    mlm_ratio: float = 0.15  # words masked for MLM (15%)
    tokenizer_checkpoint: Optional[str] = None  # stage-1 run (folder or checkpoint) whose codes MVM predicts
    num_codes: int = 9420  # codebook size of that tokenizer (set from its checkpoint when loaded)
    layer_norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        problems = []
        if self.image_size % 32:
            problems.append(f"image_size {self.image_size} is not a multiple of EdgeNeXt's stride 32")
        for name in ("text", "fusion"):
            if getattr(self, f"{name}_width") % getattr(self, f"{name}_heads"):
                problems.append(f"{name}_width is not divisible by {name}_heads")
        if not 0 < self.mvm_ratio < 1 or not 0 < self.mlm_ratio < 1:
            problems.append("mvm_ratio and mlm_ratio must lie in (0, 1)")
        if problems:
            raise ValueError("invalid EvilmConfig: " + "; ".join(problems))

    @property
    def grid(self) -> int:
        return self.image_size // 32

    def replace(self, **changes) -> "EvilmConfig":
        return dataclasses.replace(self, **changes)


def tokenizer_paper() -> SemanticTokenizerConfig:
    """The ViT-B tokenizer: 9,420 codes of 32 dims, an 8-layer decoder."""
    return SemanticTokenizerConfig()


def tokenizer_tiny() -> SemanticTokenizerConfig:
    """CPU tests: 4 frames of 128^2 (4 x 4 codes each), 2 + 2 layers of 64, 256 codes."""
    return SemanticTokenizerConfig(
        image_size=128,
        width=64,
        layers=2,
        heads=4,
        num_codes=256,
        code_dim=16,
        decoder_width=64,
        decoder_layers=2,
        decoder_heads=4,
        vocab_size=1000,
        context_length=32,
    )


def evilm_paper() -> EvilmConfig:
    """E-ViLM (arXiv:2311.17267) section 4.1 and table 8: EdgeNeXt-small, a 12-layer BERT of width 128 with
    4 heads over a 9,157-word vocabulary, 4 fusion blocks of 384: 16.3M parameters."""
    return EvilmConfig()


def evilm_tiny() -> EvilmConfig:
    """CPU tests: a tiny EdgeNeXt on 4 frames of 128^2 (4 x 4 grid), small text and fusion encoders."""
    return EvilmConfig(
        image_size=128,
        edgenext="tiny-test",
        vocab_size=1000,
        context_length=32,
        text_width=32,
        text_layers=2,
        text_heads=2,
        fusion_width=64,
        fusion_layers=2,
        fusion_heads=4,
        num_codes=256,
    )
