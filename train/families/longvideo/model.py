"""The video-first dual encoder of seed 003: CLIP's ViT turned into a ViViT with joint space-time attention
over tubelets (section 3.1, appendix A), and CLIP's text tower (reused from train.model). No torch.distributed.

Video path: (B, T, 3, H, W) frames -> Conv3d tubelets of t x P x P -> (B, T/t, N, width) tokens + spatial
position (CLIP's, repeated over time) + temporal position (a zero-initialised table stretched over the
video's T/t steps, so a stage-2 model with more frames reads stage 1's table unchanged) -> random or tube masking
(training only) -> pre-LN -> the CLIP encoder over all kept tokens at once (no [CLS]) -> mean pool ->
post-LN -> projection. Without a [CLS] token the encoder is invariant to duplicated tokens, so with the
inflated kernel (2D weights / t, repeated over time) and zero temporal embeddings a static video
embeds exactly as its frame does (tests/train/test_longvideo_model.py).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from train.model.layers import Encoder
from train.model.towers import TextTransformer

from .config import LongVideoConfig


class TubeletEmbeddings(nn.Module):
    """Conv3d tubelet embedding + factorised (spatial + temporal) position embeddings; images have a
    Conv2d patch embedding of their own (section 3.1: "images are embedded with the original 2D
    convolution and videos with a separate 3D convolution, with no weight sharing")."""

    def __init__(self, cfg: LongVideoConfig):
        super().__init__()
        width, t, P = cfg.vision_width, cfg.tubelet_frames, cfg.patch_size
        self.tubelet_frames = t
        self.tubelet_embedding = nn.Conv3d(3, width, (t, P, P), stride=(t, P, P), bias=False)
        self.image_patch_embedding = nn.Conv2d(3, width, P, stride=P, bias=False)
        # CLIP's patch position embeddings without the [CLS] row, shared by every time step
        self.position_embedding = nn.Embedding(cfg.num_patches, width)
        nn.init.normal_(self.position_embedding.weight, std=0.01)
        # zero-init: at initialisation every time step is embedded as CLIP embeds an image
        self.temporal_embedding = nn.Parameter(torch.zeros(cfg.temporal_positions, width))

    def temporal(self, num_steps: int) -> torch.Tensor:
        """(S, width): the temporal table, linearly interpolated to S rows (itself when S equals its rows)."""
        table_PD = self.temporal_embedding
        if num_steps == table_PD.shape[0]:
            return table_PD
        table_1DP = table_PD.T[None]
        return F.interpolate(table_1DP, size=num_steps, mode="linear", align_corners=True)[0].T

    def video(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, T/t, N, width) tubelet tokens with positions."""
        x_BCTHW = frames_BTCHW.transpose(1, 2).to(self.tubelet_embedding.weight.dtype)
        x_BDSHW = self.tubelet_embedding(x_BCTHW)  # S = T / t time steps
        x_BSND = x_BDSHW.flatten(3).permute(0, 2, 3, 1)
        return x_BSND + self.position_embedding.weight + self.temporal(x_BSND.shape[1])[:, None]

    def image(self, images_BCHW: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1, N, width): the image's patches with the spatial positions (no time)."""
        x_BDHW = self.image_patch_embedding(images_BCHW.to(self.image_patch_embedding.weight.dtype))
        return (x_BDHW.flatten(2).transpose(1, 2) + self.position_embedding.weight)[:, None]


def random_kept_tokens(
    batch: int, num_tokens: int, num_kept: int, device=None, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """(B, K) sorted indices of `num_kept` tokens drawn uniformly without replacement per video."""
    scores_BL = torch.rand(batch, num_tokens, device=device, generator=generator)
    return scores_BL.argsort(dim=1)[:, :num_kept].sort(dim=1).values


def tube_kept_tokens(
    batch: int,
    num_time_steps: int,
    num_patches: int,
    num_kept_patches: int,
    device=None,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """(B, S * K) sorted indices (time-major) keeping the same K spatial positions at every time step,
    as VidLA's tube masking does."""
    positions_BK = random_kept_tokens(batch, num_patches, num_kept_patches, device, generator)
    steps_S = torch.arange(num_time_steps, device=positions_BK.device) * num_patches
    return (steps_S[None, :, None] + positions_BK[:, None, :]).flatten(1)


class VideoTransformer(nn.Module):
    """CLIP's ViT as a ViViT with joint space-time attention and spatio-temporal mean pooling."""

    def __init__(self, cfg: LongVideoConfig):
        super().__init__()
        self.cfg = cfg
        width = cfg.vision_width
        self.embeddings = TubeletEmbeddings(cfg)
        self.pre_layrnorm = nn.LayerNorm(width, eps=cfg.layer_norm_eps)  # sic, CLIP's name
        self.encoder = Encoder(
            cfg.vision_layers,
            cfg.grad_checkpointing,
            width=width,
            num_heads=cfg.vision_heads,
            mlp_ratio=cfg.mlp_ratio,
            act=cfg.hidden_act,
            eps=cfg.layer_norm_eps,
        )
        self.post_layernorm = nn.LayerNorm(width, eps=cfg.layer_norm_eps)

    def _check_frames(self, frames_BTCHW: torch.Tensor) -> None:
        cfg = self.cfg
        if frames_BTCHW.ndim != 5 or tuple(frames_BTCHW.shape[2:]) != (3, cfg.image_size, cfg.image_size):
            raise ValueError(
                f"frames must be (B, T, 3, {cfg.image_size}, {cfg.image_size}), got {tuple(frames_BTCHW.shape)}"
            )
        T = frames_BTCHW.shape[1]
        if T % cfg.tubelet_frames or T > cfg.num_frames:
            raise ValueError(
                f"{T} frames: need a multiple of tubelet_frames {cfg.tubelet_frames} "
                f"and at most num_frames {cfg.num_frames}"
            )

    def sample_kept_tokens(self, batch: int, num_time_steps: int, device=None) -> torch.Tensor:
        """(B, K) indices into the flattened (time-major) tokens that the training mask keeps."""
        cfg = self.cfg
        if cfg.mask_kind == "tube":
            kept = cfg.num_kept_tokens(num_time_steps) // num_time_steps
            return tube_kept_tokens(batch, num_time_steps, cfg.num_patches, kept, device)
        return random_kept_tokens(batch, num_time_steps * cfg.num_patches, cfg.num_kept_tokens(num_time_steps), device)

    def pool(self, tokens_BLD: torch.Tensor) -> torch.Tensor:
        """Embedded tokens -> (B, width): pre-LN, joint attention over all of them, mean, post-LN."""
        x_BLD = self.encoder(self.pre_layrnorm(tokens_BLD))
        return self.post_layernorm(x_BLD.mean(dim=1))

    def forward(self, frames_BTCHW: torch.Tensor, kept_BK: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, width). `kept_BK` (indices into the T/t * N tokens, time-major) selects
        the tokens to encode; by default the config's mask while training, every token otherwise."""
        self._check_frames(frames_BTCHW)
        tokens_BSND = self.embeddings.video(frames_BTCHW)
        B, S, N, D = tokens_BSND.shape
        tokens_BLD = tokens_BSND.reshape(B, S * N, D)
        if kept_BK is None and self.training and self.cfg.mask_ratio > 0:
            kept_BK = self.sample_kept_tokens(B, S, tokens_BLD.device)
        if kept_BK is not None:
            tokens_BLD = tokens_BLD.gather(1, kept_BK[:, :, None].expand(-1, -1, D))
        return self.pool(tokens_BLD)

    def forward_image(self, images_BCHW: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, width), never masked."""
        return self.pool(self.embeddings.image(images_BCHW).flatten(1, 2))


class LongVideoCLIP(nn.Module):
    """Attribute names follow transformers' CLIPModel so CLIP checkpoints load by name (see weights.py)."""

    def __init__(self, cfg: LongVideoConfig):
        super().__init__()
        self.cfg = cfg
        self.vision_model = VideoTransformer(cfg)
        self.text_model = TextTransformer(cfg)  # reads the text_* fields, which LongVideoConfig shares
        self.visual_projection = nn.Linear(cfg.vision_width, cfg.embed_dim, bias=False)
        self.text_projection = nn.Linear(cfg.text_width, cfg.embed_dim, bias=False)
        # log(1 / temperature); the trainer clamps it to [0, ln cfg.logit_scale_max] after every step
        self.logit_scale = nn.Parameter(torch.tensor(cfg.logit_scale_init))

    def encode_video(
        self,
        frames_BTCHW: torch.Tensor,
        kept_BK: Optional[torch.Tensor] = None,
        is_image_B: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Frames normalised with CLIP's mean/std, (B, T, 3, H, W) -> (B, embed_dim), unit norm. Rows
        flagged in ``is_image_B`` (mixed image and video pre-training) are images: their first frame
        goes through the image path (``encode_image``), the others through the video path."""
        if is_image_B is None or not bool(is_image_B.any()):
            return F.normalize(self.visual_projection(self.vision_model(frames_BTCHW, kept_BK)), dim=-1)
        if kept_BK is not None:
            raise ValueError("kept_BK selects video tokens: not with images in the batch")
        is_image_B = is_image_B.bool()
        out = frames_BTCHW.new_empty(frames_BTCHW.shape[0], self.cfg.embed_dim)
        out[is_image_B] = self.encode_image(frames_BTCHW[is_image_B, 0]).to(out.dtype)
        if not bool(is_image_B.all()):
            videos = frames_BTCHW[~is_image_B]
            out[~is_image_B] = F.normalize(self.visual_projection(self.vision_model(videos)), dim=-1).to(out.dtype)
        return out

    def encode_image(self, images_BCHW: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, embed_dim), unit norm (the image path of mixed image/video pre-training)."""
        return F.normalize(self.visual_projection(self.vision_model.forward_image(images_BCHW)), dim=-1)

    def encode_text(self, input_ids_BL: torch.Tensor, attention_mask_BL: torch.Tensor) -> torch.Tensor:
        """Right-padded CLIP token ids and their 0/1 mask, (B, L) -> (B, embed_dim), unit norm."""
        return F.normalize(self.text_projection(self.text_model(input_ids_BL, attention_mask_BL)), dim=-1)

    def logit_scale_value(self) -> torch.Tensor:
        """1 / temperature, exp(logit_scale) within cfg.logit_scale_max (what the trainer's clamp keeps)."""
        return self.logit_scale.exp().clamp(max=self.cfg.logit_scale_max)
