"""The two towers: CLIP's causal text transformer, and CLIP's ViT extended to video (VidLA section 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import torch
from torch import nn

from .attention import TokenLayout
from .layers import Encoder

if TYPE_CHECKING:  # the towers read any config with these fields (VidLA's, the long-video family's)
    from train.families.vidla.config import ModelConfig


def _encoder(cfg: ModelConfig, tower: str, temporal: bool = False) -> Encoder:
    width = getattr(cfg, f"{tower}_width")
    return Encoder(
        num_layers=getattr(cfg, f"{tower}_layers"),
        grad_checkpointing=cfg.grad_checkpointing,
        width=width,
        num_heads=getattr(cfg, f"{tower}_heads"),
        mlp_ratio=cfg.mlp_ratio,
        act=cfg.hidden_act,
        eps=cfg.layer_norm_eps,
        temporal=temporal,
    )


class TextEmbeddings(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.position_embedding = nn.Embedding(cfg.context_length, cfg.text_width)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.01)


class TextTransformer(nn.Module):
    """CLIP's text tower; the text feature is the final token of each sequence (CLIP's end-of-text)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.context_length = cfg.context_length
        self.embeddings = TextEmbeddings(cfg)
        self.encoder = _encoder(cfg, "text")
        self.final_layer_norm = nn.LayerNorm(cfg.text_width, eps=cfg.layer_norm_eps)

    def forward(self, input_ids_BL: torch.Tensor, attention_mask_BL: torch.Tensor) -> torch.Tensor:
        """(B, L) ids and right-padded 0/1 mask -> (B, text_width) feature of the last attended token."""
        B, L = input_ids_BL.shape
        if L > self.context_length:
            raise ValueError(f"text of {L} tokens is longer than the context length {self.context_length}")
        if input_ids_BL.shape != attention_mask_BL.shape:
            raise ValueError(
                f"input_ids {tuple(input_ids_BL.shape)} and attention_mask "
                f"{tuple(attention_mask_BL.shape)} differ in shape"
            )
        lengths_B = attention_mask_BL.sum(dim=1)
        if bool((lengths_B == 0).any()):
            raise ValueError("a text has an all-zero attention mask (no tokens)")
        positions = torch.arange(L, device=input_ids_BL.device)
        x_BLD = self.embeddings.token_embedding(input_ids_BL) + self.embeddings.position_embedding(positions)
        causal_LL = positions[None, :] <= positions[:, None]
        mask_B1LL = (causal_LL & attention_mask_BL.bool()[:, None, :])[:, None]
        x_BLD = self.final_layer_norm(self.encoder(x_BLD, attn_mask=mask_B1LL))
        return x_BLD[torch.arange(B, device=x_BLD.device), lengths_B - 1]


class VideoEmbeddings(nn.Module):
    """CLIP's patch + spatial position embeddings, plus VidLA's temporal embedding and [MST] tokens."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        width = cfg.vision_width
        self.patch_size = cfg.patch_size
        self.class_embedding = nn.Parameter(torch.randn(width) * width**-0.5)
        self.patch_embedding = nn.Conv2d(3, width, cfg.patch_size, cfg.patch_size, bias=False)
        self.position_embedding = nn.Embedding(cfg.num_patches + 1, width)
        nn.init.normal_(self.position_embedding.weight, std=0.01)
        self.temporal_embedding: Optional[nn.Parameter] = None
        self.mst_embedding: Optional[nn.Parameter] = None
        if cfg.pooling == "cls":
            # random init (see ModelConfig.temporal_embedding_std); load_clip_weights zeroes it, so that
            # a CLIP-initialised model embeds frames exactly as CLIP embeds images
            temporal_TD = torch.randn(cfg.num_frames, width) * cfg.temporal_embedding_std
            self.temporal_embedding = nn.Parameter(temporal_TD)
        num_levels, tokens_per_level, _ = cfg.mst_levels
        if num_levels:
            # [MST] = CLIP's [CLS] input embedding + a small learnable offset per token: in-distribution
            # keys/values for the pretrained layers at init, distinct tokens so they can specialise
            self.mst_embedding = nn.Parameter(torch.randn(num_levels * tokens_per_level, width) * 0.02)

    def patches(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, T, N, width) patch + spatial position embeddings."""
        B, T = frames_BTCHW.shape[:2]
        x = self.patch_embedding(frames_BTCHW.flatten(0, 1).to(self.patch_embedding.weight.dtype))
        x_BTND = x.flatten(2).transpose(1, 2).unflatten(0, (B, T))
        return x_BTND + self.position_embedding.weight[1:]

    def cls(self) -> torch.Tensor:
        """(width,) the [CLS] input token."""
        return self.class_embedding + self.position_embedding.weight[0]


def tube_mask(patches_BTND: torch.Tensor, num_kept: int) -> torch.Tensor:
    """Keep the same `num_kept` random spatial positions in every frame of a clip (per clip): (B, T, K, D)."""
    B, T, N, D = patches_BTND.shape
    scores_BN = torch.rand(B, N, device=patches_BTND.device)
    kept_BK = scores_BN.argsort(dim=1)[:, :num_kept].sort(dim=1).values
    return patches_BTND.gather(2, kept_BK[:, None, :, None].expand(B, T, num_kept, D))


class VideoTransformer(nn.Module):
    """CLIP's ViT applied to a clip: VidLA's hierarchical temporal attention, or frame-wise for meanP."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embeddings = VideoEmbeddings(cfg)
        self.pre_layrnorm = nn.LayerNorm(cfg.vision_width, eps=cfg.layer_norm_eps)  # sic, CLIP's name
        self.encoder = _encoder(cfg, "vision", temporal=cfg.use_local_temporal)
        if cfg.use_local_temporal and not cfg.zero_init_local_temporal:
            for layer in self.encoder.layers:
                layer.temporal_attn.out_proj.reset_parameters()
        self.post_layernorm = nn.LayerNorm(cfg.vision_width, eps=cfg.layer_norm_eps)

    def _check_frames(self, frames_BTCHW: torch.Tensor) -> None:
        cfg = self.cfg
        if frames_BTCHW.ndim != 5 or tuple(frames_BTCHW.shape[2:]) != (3, cfg.image_size, cfg.image_size):
            raise ValueError(
                f"frames must be (B, T, 3, {cfg.image_size}, {cfg.image_size}), got {tuple(frames_BTCHW.shape)}"
            )
        if cfg.pooling == "cls" and frames_BTCHW.shape[1] > cfg.num_frames:
            raise ValueError(f"{frames_BTCHW.shape[1]} frames exceed the model's num_frames {cfg.num_frames}")

    def _masked(self, patches_BTND: torch.Tensor) -> torch.Tensor:
        if self.training and self.cfg.tube_mask_ratio > 0:
            return tube_mask(patches_BTND, self.cfg.num_kept_patches)
        return patches_BTND

    def embed(self, frames_BTCHW: torch.Tensor) -> tuple[torch.Tensor, TokenLayout]:
        """The layer-0 sequence [CLS, MST (level-major), patches (frame-major)] after CLIP's pre-LN."""
        self._check_frames(frames_BTCHW)
        emb = self.embeddings
        B, T = frames_BTCHW.shape[:2]
        patches_BTND = emb.patches(frames_BTCHW) + emb.temporal_embedding[:T, None]
        patches_BTND = self._masked(patches_BTND)
        cls_D = emb.cls()
        tokens = [cls_D.expand(B, 1, -1)]
        if emb.mst_embedding is not None:
            tokens.append((cls_D + emb.mst_embedding).expand(B, -1, -1))
        tokens.append(patches_BTND.flatten(1, 2))
        num_levels, tokens_per_level, temporal_scale = self.cfg.mst_levels
        layout = TokenLayout(
            T, patches_BTND.shape[2], num_levels, tokens_per_level, temporal_scale, self.cfg.mst_reference_frames
        )
        return self.pre_layrnorm(torch.cat(tokens, dim=1)), layout

    def forward(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, width): the final [CLS] after CLIP's post-LN."""
        if self.cfg.pooling == "meanp":
            raise ValueError("a meanp model encodes frames one by one: call forward_frames")
        x_BLD, layout = self.embed(frames_BTCHW)
        x_BLD = self.encoder.forward_video(x_BLD, layout)
        return self.post_layernorm(x_BLD[:, 0])

    def forward_frames(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """Frame-wise CLIP (CLIP4Clip meanP): (B, T, 3, H, W) -> (B, T, width) post-LN [CLS] per frame."""
        self._check_frames(frames_BTCHW)
        B, T = frames_BTCHW.shape[:2]
        patches_BTND = self._masked(self.embeddings.patches(frames_BTCHW))
        cls_D = self.embeddings.cls()
        x_FLD = torch.cat([cls_D.expand(B * T, 1, -1), patches_BTND.flatten(0, 1)], dim=1)
        x_FLD = self.encoder(self.pre_layrnorm(x_FLD))
        return self.post_layernorm(x_FLD[:, 0]).view(B, T, -1)
