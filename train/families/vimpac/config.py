"""VIMPAC model configuration and presets (paper appendix C, table 10). Torch-free."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class VimpacConfig:
    # --- input and tokenizer (section 3.1: a frozen DALL-E dVAE, 8x down-sampling) ---
    image_size: int = 128  # frame side S; the token map is S / 8 on each side
    num_frames: int = 5  # T frames per window (paper: 5 in pre-training)
    sample_fps: float = 2.0  # frames per second within a window (section 4.2: 2 FPS)
    num_codes: int = 8192  # dVAE vocabulary |V|
    dvae_weights: Optional[str] = None  # DALL-E encoder state dict; None: a random frozen encoder
    dvae_hidden: int = 256  # n_hid of the dVAE encoder (DALL-E's: 256)
    dvae_blocks_per_group: int = 2  # residual blocks per group of the dVAE encoder (DALL-E's: 2)
    # --- token transformer (appendix A.1: post-LN, temporal then height|width attention) ---
    width: int = 512  # hidden size
    layers: int = 6  # spatio-temporal layers
    heads: int = 8  # attention heads (the height|width block gives half of them to each axis)
    attention_width: Optional[int] = None  # q/k/v width; None: width (large-half: width / 2)
    mlp_dim: int = 2048  # MLP intermediate size
    dropout: float = 0.1  # dropout on embeddings, attention outputs and MLP
    layer_norm_eps: float = 1e-12  # BERT's LayerNorm epsilon
    grad_checkpointing: bool = False  # recompute each layer in backward (memory for time)
    # --- pre-training (sections 3.1-3.3, appendix B) ---
    mask_blocks: Optional[int] = None  # 3-D mask blocks per window; None: the count closest to 15%
    head_layers: int = 3  # layers of the contrastive MLP head on [CLS] (appendix C: 3)
    head_hidden: int = 4096  # its hidden width (appendix C: 4096), with batch norm
    embed_dim: int = 256  # its output size: the clip embedding
    temperature: float = 0.2  # fixed contrastive temperature gamma (the loss is multiplied by it)
    # largest distance (s) between the starts of the two positive windows (table 6's d_max); None: the
    # paper's default, anywhere in the video (its clips in the shards); 0: the same window
    positive_max_distance: Optional[float] = None
    # --- text (VIMPAC learns from video alone; the shared loader still tokenizes the clips' texts) ---
    vocab_size: int = 49408  # largest text vocabulary the run's tokenizer may have
    context_length: int = 77  # text tokens per clip in the batch (unused by the model)

    def __post_init__(self) -> None:
        problems = []
        if self.image_size % 8:
            problems.append(f"image_size {self.image_size} is not a multiple of the dVAE's 8")
        if self.heads % 2 or self.width % self.heads:
            problems.append(f"heads {self.heads} must be even and divide width {self.width}")
        if self.attn_width % self.heads:
            problems.append(f"attention width {self.attn_width} is not divisible by heads {self.heads}")
        if min(self.num_frames, self.layers, self.head_layers) < 1:
            problems.append("num_frames, layers and head_layers must be >= 1")
        if self.positive_max_distance is not None and self.positive_max_distance < 0:
            problems.append(f"positive_max_distance {self.positive_max_distance} must be >= 0 (or None)")
        if self.temperature <= 0:
            problems.append(f"temperature {self.temperature} must be > 0")
        if problems:
            raise ValueError("invalid VimpacConfig: " + "; ".join(problems))

    @property
    def attn_width(self) -> int:
        return self.attention_width or self.width

    @property
    def token_side(self) -> int:
        return self.image_size // 8

    def replace(self, **changes) -> "VimpacConfig":
        return dataclasses.replace(self, **changes)


def vimpac_small() -> VimpacConfig:
    """Table 10 'Small' (the analysis model): 6 layers, 512 wide, 8 heads; 5 frames of 128^2."""
    return VimpacConfig()


def vimpac_base() -> VimpacConfig:
    """Table 10 'Base': 12 layers, 768 wide, 12 heads."""
    return VimpacConfig(width=768, layers=12, heads=12, mlp_dim=3072)


def vimpac_large_half() -> VimpacConfig:
    """Table 10 'Large-Half' (the results model): 24 layers, 1024 wide, 16 heads of 32, MLP 2048."""
    return VimpacConfig(width=1024, layers=24, heads=16, attention_width=512, mlp_dim=2048)


def vimpac_large_half_256() -> VimpacConfig:
    """Large-Half for the last 10 of the 100 pre-training epochs (section 4.2): T=5 frames of S=256."""
    return vimpac_large_half().replace(image_size=256)


def vimpac_tiny() -> VimpacConfig:
    """CPU tests: 4 frames of 64^2 (8 x 8 tokens) at 10 FPS (so that the test clips of 1.6 s hold two
    distinct windows), 2 layers of 64, a small random frozen dVAE with the full 8192 codes."""
    return VimpacConfig(
        image_size=64,
        num_frames=4,
        sample_fps=10.0,
        dvae_hidden=16,
        dvae_blocks_per_group=1,
        width=64,
        layers=2,
        heads=4,
        mlp_dim=128,
        dropout=0.0,
        head_hidden=128,
        embed_dim=32,
    )


def vimpac_tiny_hr() -> VimpacConfig:
    """The tiny model's high-resolution stage: frames of 128^2 (16 x 16 tokens) instead of 64^2."""
    return vimpac_tiny().replace(image_size=128)


PRESETS = {
    "vimpac-tiny": vimpac_tiny,
    "vimpac-tiny-hr": vimpac_tiny_hr,
    "vimpac-small": vimpac_small,
    "vimpac-base": vimpac_base,
    "vimpac-large-half": vimpac_large_half,
    "vimpac-large-half-256": vimpac_large_half_256,
}
