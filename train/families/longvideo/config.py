"""Configuration of the long-video recipe (seed 003, "A Simple Recipe for Contrastively Pre-training
Video-First Encoders Beyond 16 Frames"): a ViViT with joint space-time attention over tubelets, made from
a CLIP image-text model, trained in two stages (short clips, then long inputs with high masking).

Torch-free, so presets can be listed without importing torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional

from schemas.records import SCALES

MASK_KINDS = ("random", "tube")
MAX_MASK_RATIO = 0.75  # the paper masks up to 75% of the input tubelets


@dataclass(frozen=True)
class LongVideoConfig:
    # --- video tower: CLIP's ViT over tubelets with joint space-time attention (ViViT model 1) ---
    image_size: int = 256  # square input frames, pixels (paper: 256; CLIP's position grid is resized to fit)
    patch_size: int = 16  # spatial side P of a tubelet; N = (image_size / P) ** 2 positions per time step
    tubelet_frames: int = 2  # temporal depth t of a tubelet (paper: 2x16x16 kernels)
    num_frames: int = 16  # frames sampled per video (the most it takes; a multiple of tubelet_frames)
    # rows of the learnable temporal position table; a video of S tubelet steps reads it linearly
    # interpolated to S rows, so a stage-2 model with more frames keeps stage 1's table (init_from loads
    # it unchanged) stretched over its longer input
    temporal_positions: int = 8
    vision_width: int = 768  # token width of the video tower
    vision_layers: int = 12  # transformer layers of the video tower
    vision_heads: int = 12  # attention heads of the video tower
    # --- text tower (CLIP's causal text transformer, reused from train.model) ---
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
    logit_scale_max: float = 100.0  # the trainer keeps exp(logit_scale) <= this (CLIP: 100)
    # --- input masking (section 4, "Token masking"; training only) ---
    mask_ratio: float = 0.0  # fraction of the video's tubelet tokens dropped before the encoder
    mask_kind: str = "random"  # "random": any tokens; "tube": the same spatial positions at every time step
    # --- data ---
    # curation scales trained and evaluated on (stage 2: ("video",), curate run --video-seconds); (): every
    # clip. Videos without a scale (benchmark files) are always kept
    scales: tuple = ()
    # --- memory ---
    grad_checkpointing: bool = False  # recompute each transformer layer in backward
    # --- initialisation ---
    clip_weights: Optional[str] = None  # directory written by transformers' CLIPModel.save_pretrained

    def __post_init__(self) -> None:
        problems = []
        if self.image_size % self.patch_size:
            problems.append(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.temporal_positions < 1:
            problems.append(f"temporal_positions must be >= 1, got {self.temporal_positions}")
        if self.tubelet_frames < 1 or self.num_frames < self.tubelet_frames:
            problems.append(f"need 1 <= tubelet_frames <= num_frames, got {self.tubelet_frames}, {self.num_frames}")
        elif self.num_frames % self.tubelet_frames:
            problems.append(f"num_frames {self.num_frames} is not a multiple of tubelet_frames {self.tubelet_frames}")
        for tower in ("vision", "text"):
            width, heads = getattr(self, f"{tower}_width"), getattr(self, f"{tower}_heads")
            if width % heads:
                problems.append(f"{tower}_width {width} is not divisible by {tower}_heads {heads}")
        if not 0.0 <= self.mask_ratio <= MAX_MASK_RATIO:
            problems.append(f"mask_ratio {self.mask_ratio} is outside [0, {MAX_MASK_RATIO}]")
        if self.mask_kind not in MASK_KINDS:
            problems.append(f"mask_kind {self.mask_kind!r} is not one of {MASK_KINDS}")
        if self.hidden_act not in ("quick_gelu", "gelu"):
            problems.append(f"hidden_act {self.hidden_act!r} is not 'quick_gelu' or 'gelu'")
        unknown = [s for s in self.scales if s not in SCALES]
        if unknown:
            problems.append(f"scales {unknown} are not curation scales {SCALES}")
        if problems:
            raise ValueError("invalid LongVideoConfig: " + "; ".join(problems))

    @property
    def num_patches(self) -> int:
        """N, spatial positions per tubelet time step."""
        return (self.image_size // self.patch_size) ** 2

    @property
    def num_time_steps(self) -> int:
        """S = num_frames / t, tubelet steps of a video of num_frames frames."""
        return self.num_frames // self.tubelet_frames

    def num_kept_tokens(self, num_time_steps: int) -> int:
        """Tokens that survive masking during training for a video of `num_time_steps` tubelet steps."""
        if self.mask_kind == "tube":
            return num_time_steps * max(1, round(self.num_patches * (1.0 - self.mask_ratio)))
        return max(1, round(num_time_steps * self.num_patches * (1.0 - self.mask_ratio)))

    def replace(self, **changes) -> "LongVideoConfig":
        return dataclasses.replace(self, **changes)


def tiny_cpu() -> LongVideoConfig:
    """Stage 1 at tiny size for CPU tests: 64 wide, 2 layers, 8 frames of 64x64 in 2x16x16 tubelets (N=16)."""
    return LongVideoConfig(
        image_size=64,
        patch_size=16,
        tubelet_frames=2,
        num_frames=8,
        temporal_positions=4,
        vision_width=64,
        vision_layers=2,
        vision_heads=4,
        text_width=64,
        text_layers=2,
        text_heads=4,
        embed_dim=32,
    )


def tiny_cpu_long() -> LongVideoConfig:
    """Stage 2 at tiny size: 4x the frames of tiny_cpu, 75% random masking, whole videos only."""
    return tiny_cpu().replace(num_frames=32, mask_ratio=0.75, scales=("video",))


def b16_short() -> LongVideoConfig:
    """Stage 1, SHORTViViT-B/16 (image-to-short-video): CLIP ViT-B/16, 16 frames (1 FPS in the paper) of
    256x256, 2x16x16 tubelets, no masking."""
    return LongVideoConfig()


def b16_short_masked() -> LongVideoConfig:
    """Efficient SHORTViViT (table 2): stage 1 with 75% random input masking (2-3x less memory)."""
    return b16_short().replace(mask_ratio=0.75)


def b16_long() -> LongVideoConfig:
    """Stage 2, LONGViViT-B/16 (short-to-long): 128 frames (64 x 256 = 16.4k tokens before masking), 75%
    masking, gradient checkpointing, whole videos only; its train preset tunes the last four layers."""
    return b16_short().replace(num_frames=128, mask_ratio=0.75, grad_checkpointing=True, scales=("video",))


MODEL_PRESETS: dict[str, Callable[[], LongVideoConfig]] = {
    "longvideo-tiny-cpu": tiny_cpu,
    "longvideo-tiny-cpu-long": tiny_cpu_long,
    "longvideo-b16-short": b16_short,
    "longvideo-b16-short-masked": b16_short_masked,
    "longvideo-b16-long": b16_long,
}
