"""VidLA's model configuration and named model presets. Torch-free (the registry imports it)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional

POOLINGS = ("cls", "meanp")
MAX_TUBE_MASK_RATIO = 0.75


@dataclass(frozen=True)
class ModelConfig:
    # --- video tower (a CLIP ViT extended with hierarchical temporal attention) ---
    image_size: int = 224  # square input frames, pixels
    patch_size: int = 32  # ViT patch side P; N = (image_size / P) ** 2 patches per frame
    num_frames: int = 12  # T frames per clip; also the length of the learnable temporal embedding
    vision_width: int = 768  # token width d of the video tower
    vision_layers: int = 12  # transformer layers L of the video tower
    vision_heads: int = 12  # attention heads of the video tower
    # --- text tower (the CLIP text transformer, causal) ---
    text_width: int = 512  # token width of the text tower
    text_layers: int = 12  # transformer layers of the text tower
    text_heads: int = 8  # attention heads of the text tower
    vocab_size: int = 49408  # CLIP BPE vocabulary (must cover every id the tokenizer emits)
    context_length: int = 77  # text tokens, CLIP's 77
    # --- shared ---
    embed_dim: int = 512  # D of the joint video/text embedding space
    mlp_ratio: float = 4.0  # MLP hidden width = mlp_ratio * width (CLIP: 4)
    hidden_act: str = "quick_gelu"  # MLP activation: "quick_gelu" (OpenAI CLIP) or "gelu"
    layer_norm_eps: float = 1e-5  # LayerNorm epsilon (CLIP: 1e-5)
    logit_scale_init: float = math.log(1 / 0.07)  # log(1 / temperature) at init (CLIP)
    logit_scale_max: float = 100.0  # logit_scale is clamped to [0, ln(this)] after every optimizer step
    # --- hierarchical temporal attention (VidLA section 4) ---
    num_levels: int = 3  # U temporal hierarchy levels of [MST] tokens
    tokens_per_level: int = 4  # V [MST] tokens per level
    temporal_scale: int = 2  # r: level u attends to the patches of frames t with t mod r**u == 0
    # frames the [MST] strides r**u are counted in (0: num_frames); a 12-frame checkpoint fine-tuned on
    # 32 frames keeps 12, so each level still attends the same moments of the clip (appendix A.2)
    mst_reference_frames: int = 0
    # random init of the temporal embedding, N(0, std): the scale of a randomly initialised patch
    # embedding (unit-variance pixels), so frame order is as visible as content from step 0. Zeros leave a
    # model without CLIP weights blind to order, and contrastive training never finds it (temporal
    # benchmark: benchmarks/bench_temporal.py). CLIP weights set it to zero (VidLA: close to CLIP at init)
    temporal_embedding_std: float = 3**-0.5
    # VidLA section 5 zero-initialises the output projection of the spatially local temporal attention
    # so that a CLIP-initialised model starts as CLIP; without CLIP weights, false gives it PyTorch's
    # default init, so that the temporal branch mixes frames (and their order) into the patches from step 0
    zero_init_local_temporal: bool = True
    use_mst: bool = True  # table 4 "[MST]": off = no [MST] tokens at all (only [CLS] + patches)
    use_hierarchy: bool = True  # table 4 "Hierarchy": off = one level of V [MST] on every frame (= U=1, r=1)
    use_local_temporal: bool = True  # table 4 "Local": spatially-local temporal attention in every layer
    pooling: str = "cls"  # "cls": VidLA, final [CLS]; "meanp": CLIP4Clip meanP, frame-wise CLIP + mean
    # --- memory ---
    tube_mask_ratio: float = 0.0  # training only: fraction of spatial positions dropped in every frame
    grad_checkpointing: bool = False  # recompute each transformer layer in backward
    # --- initialisation ---
    clip_weights: Optional[str] = None  # directory written by transformers' CLIPModel.save_pretrained

    def __post_init__(self) -> None:
        problems = []
        if self.image_size % self.patch_size:
            problems.append(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        for tower in ("vision", "text"):
            width, heads = getattr(self, f"{tower}_width"), getattr(self, f"{tower}_heads")
            if width % heads:
                problems.append(f"{tower}_width {width} is not divisible by {tower}_heads {heads}")
        if self.pooling not in POOLINGS:
            problems.append(f"pooling {self.pooling!r} is not one of {POOLINGS}")
        if self.pooling == "meanp" and (self.use_mst or self.use_local_temporal):
            problems.append("pooling 'meanp' is frame-wise CLIP: set use_mst=False and use_local_temporal=False")
        if min(self.num_frames, self.num_levels, self.tokens_per_level, self.temporal_scale) < 1:
            problems.append("num_frames, num_levels, tokens_per_level and temporal_scale must be >= 1")
        if self.mst_reference_frames < 0:
            problems.append(f"mst_reference_frames {self.mst_reference_frames} must be >= 0 (0: num_frames)")
        if not 0.0 <= self.tube_mask_ratio <= MAX_TUBE_MASK_RATIO:
            problems.append(f"tube_mask_ratio {self.tube_mask_ratio} is outside [0, {MAX_TUBE_MASK_RATIO}]")
        if self.hidden_act not in ("quick_gelu", "gelu"):
            problems.append(f"hidden_act {self.hidden_act!r} is not 'quick_gelu' or 'gelu'")
        if problems:
            raise ValueError("invalid ModelConfig: " + "; ".join(problems))

    @property
    def num_patches(self) -> int:
        """N, patches per frame before tube masking."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def mst_levels(self) -> tuple[int, int, int]:
        """(U, V, r) as the attention uses them: (0, 0, 1) without [MST], (1, V, 1) without hierarchy."""
        if not self.use_mst:
            return (0, 0, 1)
        if not self.use_hierarchy:
            return (1, self.tokens_per_level, 1)
        return (self.num_levels, self.tokens_per_level, self.temporal_scale)

    @property
    def num_kept_patches(self) -> int:
        """Patches per frame that survive tube masking during training (at least one)."""
        return max(1, round(self.num_patches * (1.0 - self.tube_mask_ratio)))

    def replace(self, **changes) -> "ModelConfig":
        return dataclasses.replace(self, **changes)


def vidla_b32() -> ModelConfig:
    """VidLA-B/32: CLIP ViT-B/32 towers, 12 frames, U=3, V=4, r=2 (section 5)."""
    return ModelConfig()


def vidla_b16() -> ModelConfig:
    """VidLA-B/16: CLIP ViT-B/16 towers (196 patches per frame)."""
    return vidla_b32().replace(patch_size=16)


def meanp_b32() -> ModelConfig:
    """CLIP4Clip meanP baseline: frame-wise CLIP ViT-B/32, mean of the frame embeddings."""
    return vidla_b32().replace(pooling="meanp", use_mst=False, use_local_temporal=False)


def tiny_cpu() -> ModelConfig:
    """Tiny towers for CPU tests: 64 wide, 2 layers, 4 frames of 64x64 in 16x16 patches (N=16)."""
    return ModelConfig(
        image_size=64,
        patch_size=16,
        num_frames=4,
        vision_width=64,
        vision_layers=2,
        vision_heads=4,
        text_width=64,
        text_layers=2,
        text_heads=4,
        embed_dim=32,
    )


# VidLA table 4 (attention design) and table 15 ([MST] design, "U-V-r"), all on ViT-B/32.
def ablation_no_mst() -> ModelConfig:
    """Table 4 row 1 / table 15 row "x": no [MST], no hierarchy, no local temporal attention."""
    return vidla_b32().replace(use_mst=False, use_hierarchy=False, use_local_temporal=False)


def ablation_mst_only() -> ModelConfig:
    """Table 4 row 2: [MST] without hierarchy, without local temporal attention."""
    return vidla_b32().replace(use_hierarchy=False, use_local_temporal=False)


def ablation_mst_hierarchy() -> ModelConfig:
    """Table 4 row 3: hierarchical [MST], no local temporal attention."""
    return vidla_b32().replace(use_local_temporal=False)


def ablation_mst_local() -> ModelConfig:
    """Table 4 row 4 (= table 15 "1-4-1"): one level of 4 [MST] on every frame, local temporal attention."""
    return vidla_b32().replace(use_hierarchy=False)


def mst_design(num_levels: int, tokens_per_level: int, temporal_scale: int) -> Callable[[], ModelConfig]:
    """Table 15 row "U-V-r" as a preset function."""

    def preset() -> ModelConfig:
        return vidla_b32().replace(
            num_levels=num_levels, tokens_per_level=tokens_per_level, temporal_scale=temporal_scale
        )

    preset.__doc__ = f"Table 15 row {num_levels}-{tokens_per_level}-{temporal_scale} on VidLA-B/32."
    return preset


PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "vidla-tiny-cpu": tiny_cpu,
    "vidla-b32": vidla_b32,
    "vidla-b16": vidla_b16,
    "meanp-b32": meanp_b32,
    "vidla-b32-nomst": ablation_no_mst,
    "vidla-b32-mst": ablation_mst_only,
    "vidla-b32-mst-hier": ablation_mst_hierarchy,
    "vidla-b32-mst-local": ablation_mst_local,
    "vidla-b32-2-4-2": mst_design(2, 4, 2),
    "vidla-b32-2-4-3": mst_design(2, 4, 3),
    "vidla-b32-3-4-3": mst_design(3, 4, 3),
}
