"""HD-VILA model configuration and named presets (seed 000, sections 4 and 5.1). Torch-free.

Sizes the paper fixes: one 640x1024 high-resolution (HR) frame and 2N = 6 low-resolution (LR)
neighbours of 160x256 (H/4 x W/4) per segment, two segments per clip, LR frames r = 12 source frames
apart (the released configs' ``sample_rate``); ResNet-50 for both frame encoders (the HR one with 4
stages, the LR one with 3), a 4-layer hybrid Transformer of width 1024 with 16 heads, and a 24-layer
BERT-large whose first 12 layers encode language and whose last 12 fuse language with video.

Where the grids meet: the HR ResNet's stage 4 (stride 32) + the adapter's 2x2 max-pool give a grid
of HR/64; the LR ResNet's stage 3 (stride 16) on an HR/4 frame gives HR/64 as well, and so does the
HR stage-3 map (stride 16) interpolated by 1/4. 640x1024 -> the paper's 10x16 feature map.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

CONSENSUS = ("mean", "max", "lse")
GRID_STRIDE = 64  # HR pixels per cell of the feature grid (ResNet stride 32, then the adapter's 2x2 pool)
LR_FACTOR = 4  # LR frames are H/4 x W/4 (section 4.1)


@dataclass(frozen=True)
class HDVILAConfig:
    # --- hybrid image sequence (section 4.1, 5.1) ---
    hr_size: tuple = (640, 1024)  # (H, W) of the HR crop, multiples of 64; LR crops are (H/4, W/4)
    num_segments: int = 2  # segments sampled per clip; the video embedding is their mean
    num_neighbours: int = 3  # N: LR frames on each side of the HR frame (2N + 1 = 7 frames per segment)
    sample_rate: int = 12  # r: source frames between neighbouring LR frames
    # --- frame encoders (ResNet-50 for both; HF ResNetModel layout) ---
    resnet_embedding_size: int = 64  # channels of the stem convolution
    resnet_hidden_sizes: tuple = (256, 512, 1024, 2048)  # output channels of stages 1-4
    resnet_depths: tuple = (3, 4, 6, 3)  # bottleneck blocks per stage
    resnet_norm_eval: bool = True  # frozen BatchNorm (statistics: mmdetection's norm_eval; affine too): small batches
    # --- hybrid Transformer T_hy (divided space-time attention) ---
    hybrid_layers: int = 4  # layers of T_hy
    hybrid_heads: int = 16  # attention heads of T_hy (its width is hidden_size)
    # --- BERT (language-only layers, then multi-modal layers; HF BertModel layout) ---
    hidden_size: int = 1024  # width of BERT, T_hy and the fused segment features
    language_layers: int = 12  # first layers: language only
    fusion_layers: int = 12  # last layers: language + video tokens (stage 2)
    num_heads: int = 16  # BERT attention heads
    intermediate_size: int = 4096  # BERT MLP width
    vocab_size: int = 30522  # WordPiece vocabulary (bert-large-uncased)
    max_position_embeddings: int = 512  # BERT's 1D position table
    type_vocab_size: int = 2  # BERT's token types
    context_length: int = 50  # text tokens (section 5.1: max length 50)
    mask_token_id: int = 103  # [MASK] of the WordPiece vocabulary (bert-*-uncased: 103)
    dropout: float = 0.1  # BERT's hidden and attention dropout
    layer_norm_eps: float = 1e-12  # BERT's LayerNorm epsilon
    # --- joint space and objectives (section 4.3) ---
    embed_dim: int = 1024  # D of the contrastive video/text embedding
    logit_scale_init: float = math.log(1 / 0.05)  # log(1 / tau); the released configs use tau = 0.05
    learn_temperature: bool = False  # False: tau stays fixed (the released code); True: learnt
    logit_scale_max: float = 100.0  # exp(logit_scale) is clamped to this where it is used
    mlm_probability: float = 0.15  # BERT's masking rate (80% [MASK], 10% random, 10% kept)
    segment_consensus: str = "lse"  # how MLM logits of the segments are aggregated (released: lse)
    # --- memory ---
    grad_checkpointing: bool = False  # recompute Transformer layers (and ResNet stages when
    # resnet_norm_eval: BatchNorm must not update its statistics twice) in backward
    # --- initialisation ---
    resnet_weights: Optional[str] = None  # ResNetModel.save_pretrained folder (ResNet-50) for both encoders
    bert_weights: Optional[str] = None  # BertModel / BertForPreTraining save_pretrained folder (BERT-large)

    def __post_init__(self) -> None:
        problems = []
        if len(self.hr_size) != 2 or any(s <= 0 or s % GRID_STRIDE for s in self.hr_size):
            problems.append(f"hr_size {self.hr_size} must be two positive multiples of {GRID_STRIDE}")
        if len(self.resnet_hidden_sizes) != 4 or len(self.resnet_depths) != 4:
            problems.append("resnet_hidden_sizes and resnet_depths need one entry per stage (4)")
        if min(self.num_segments, self.num_neighbours, self.sample_rate) < 1:
            problems.append("num_segments, num_neighbours and sample_rate must be >= 1")
        for width, heads, what in (
            (self.hidden_size, self.hybrid_heads, "hybrid_heads"),
            (self.hidden_size, self.num_heads, "num_heads"),
        ):
            if width % heads:
                problems.append(f"hidden_size {width} is not divisible by {what} {heads}")
        if self.segment_consensus not in CONSENSUS:
            problems.append(f"segment_consensus {self.segment_consensus!r} is not one of {CONSENSUS}")
        if not 0 < self.mlm_probability < 1:
            problems.append(f"mlm_probability {self.mlm_probability} must lie in (0, 1)")
        if not 0 <= self.mask_token_id < self.vocab_size:
            problems.append(f"mask_token_id {self.mask_token_id} is outside the vocabulary of {self.vocab_size}")
        if self.context_length > self.max_position_embeddings:
            problems.append(f"context_length {self.context_length} exceeds max_position_embeddings")
        if problems:
            raise ValueError("invalid HDVILAConfig: " + "; ".join(problems))

    @property
    def lr_size(self) -> tuple:
        """(H/4, W/4): the LR crop aligned with the HR crop."""
        return (self.hr_size[0] // LR_FACTOR, self.hr_size[1] // LR_FACTOR)

    @property
    def grid_size(self) -> tuple:
        """(h, w) of the segment feature map (10 x 16 at 640 x 1024)."""
        return (self.hr_size[0] // GRID_STRIDE, self.hr_size[1] // GRID_STRIDE)

    @property
    def frames_per_segment(self) -> int:
        return 2 * self.num_neighbours + 1

    def replace(self, **changes) -> HDVILAConfig:
        return dataclasses.replace(self, **changes)


def hdvila_paper() -> HDVILAConfig:
    """The paper's model: ResNet-50 HR/LR encoders, 4-layer T_hy (1024 wide, 16 heads), BERT-large;
    set resnet_weights / bert_weights to local ResNet-50 and bert-large-uncased folders."""
    return HDVILAConfig()


def tiny_cpu() -> HDVILAConfig:
    """Tiny for CPU tests: 64x128 HR crops (a 1x2 grid), 2 segments of 3 frames, ResNet 8-64 wide with
    one block per stage, 32-wide BERT with 2 + 2 layers, no dropout."""
    return HDVILAConfig(
        hr_size=(64, 128),
        num_segments=2,
        num_neighbours=1,
        sample_rate=2,
        resnet_embedding_size=8,
        resnet_hidden_sizes=(16, 24, 32, 64),
        resnet_depths=(1, 1, 1, 1),
        resnet_norm_eval=False,
        hybrid_layers=1,
        hybrid_heads=4,
        hidden_size=32,
        language_layers=2,
        fusion_layers=2,
        num_heads=4,
        intermediate_size=64,
        vocab_size=1000,
        max_position_embeddings=64,
        context_length=24,
        dropout=0.0,
        embed_dim=32,
    )


PRESETS: dict[str, Callable[[], HDVILAConfig]] = {
    "hdvila-tiny-cpu": tiny_cpu,
    "hdvila": hdvila_paper,
}
