"""The HD-VILA model: hybrid video encoder, BERT language encoder, multi-modal Transformer (section 4).

- ``encode_video``: segment features averaged over grid cells and segments (the mean of segment
  embeddings is the video embedding), projected and L2-normalised;
- ``encode_text``: the language-only layers, mean over the text tokens, BERT's pooler dense + tanh,
  projected and L2-normalised (the released code's ``bert_mean``);
- ``mlm_logits``: language-only states of the (masked) text concatenated with the visual tokens of each
  segment (+ learnable 2D row/column position embeddings, a token type, LayerNorm), through the
  multi-modal layers; the MLM head on the text positions; the segments' logits aggregated into one
  consensus (section 4.3).

Stage 1 trains ``encode_video``/``encode_text`` contrastively; stage 2 trains the multi-modal part with
MLM while the stage-1 parameters (``STAGE1_PARAMETERS``) stay frozen, as the released code does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .bert import Embeddings, Layer, MLMHead, padding_bias
from .config import HDVILAConfig
from .resnet import run
from .video import HybridVideoEncoder


class Pooler(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.dense = nn.Linear(width, width)

    def forward(self, x_BD: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(x_BD))


class TextTransformer(nn.Module):
    """BERT split in two: ``language_layers`` (text only) and ``fusion_layers`` (text + video)."""

    def __init__(self, cfg: HDVILAConfig):
        super().__init__()
        D, eps, p = cfg.hidden_size, cfg.layer_norm_eps, cfg.dropout
        self.embeddings = Embeddings(cfg.vocab_size, D, cfg.max_position_embeddings, cfg.type_vocab_size, eps, p)

        def layers(n: int) -> nn.ModuleList:
            return nn.ModuleList(Layer(D, cfg.num_heads, cfg.intermediate_size, eps, p) for _ in range(n))

        self.language_layers = layers(cfg.language_layers)
        self.fusion_layers = layers(cfg.fusion_layers)
        self.pooler = Pooler(D)


class VisualEmbeddings(nn.Module):
    """Segment feature grid -> visual tokens: + row and column embeddings (2D), + a token type,
    LayerNorm, dropout."""

    def __init__(self, cfg: HDVILAConfig):
        super().__init__()
        h, w = cfg.grid_size
        D = cfg.hidden_size
        self.row_embeddings = nn.Embedding(h, D)
        self.col_embeddings = nn.Embedding(w, D)
        self.token_type_embedding = nn.Parameter(torch.zeros(D))
        self.LayerNorm = nn.LayerNorm(D, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, grid_BhwD: torch.Tensor) -> torch.Tensor:
        B, h, w, D = grid_BhwD.shape
        grid_BhwD = (
            grid_BhwD
            + self.row_embeddings.weight[None, :, None]
            + self.col_embeddings.weight[None, None, :]
            + self.token_type_embedding
        )
        return self.dropout(self.LayerNorm(grid_BhwD.reshape(B, h * w, D)))


class HDVILA(nn.Module):
    def __init__(self, cfg: HDVILAConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.hidden_size
        self.video = HybridVideoEncoder(cfg)
        self.text = TextTransformer(cfg)
        self.video_projection = nn.Linear(D, cfg.embed_dim)
        self.text_projection = nn.Linear(D, cfg.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(cfg.logit_scale_init), requires_grad=cfg.learn_temperature)
        self.visual_embeddings = VisualEmbeddings(cfg)
        self.mlm_head = MLMHead(D, cfg.vocab_size, cfg.layer_norm_eps)
        self.apply(_init_weights)

    def train(self, mode: bool = True) -> HDVILA:
        """Parts whose parameters are all frozen (``TrainConfig.freeze``: the stage-1 towers in stage 2)
        stay in eval mode, as the released code keeps them: no dropout, no BatchNorm statistics drift."""
        super().train(mode)
        if mode:
            for module in self.modules():
                params = list(module.parameters())
                if params and not any(p.requires_grad for p in params):
                    module.eval()
        return self

    @property
    def _recompute(self) -> bool:
        return self.cfg.grad_checkpointing and self.training

    # --- stage 1: the two-stream embeddings ---
    def encode_video(self, hr_BSCHW: torch.Tensor, lr_BSKCHW: torch.Tensor) -> torch.Tensor:
        """(B, embed_dim), unit norm."""
        segments_BShwD = self.video(hr_BSCHW, lr_BSKCHW)
        return F.normalize(self.video_projection(segments_BShwD.mean(dim=(1, 2, 3))), dim=-1)

    def language_states(self, ids_BL: torch.Tensor, mask_BL: torch.Tensor) -> torch.Tensor:
        """Outputs of the language-only layers, (B, L, D)."""
        bias_B11L = padding_bias(mask_BL)
        x_BLD = self.text.embeddings(ids_BL)
        for layer in self.text.language_layers:
            x_BLD = run(layer, x_BLD, bias_B11L, recompute=self._recompute)
        return x_BLD

    def encode_text(self, ids_BL: torch.Tensor, mask_BL: torch.Tensor) -> torch.Tensor:
        """(B, embed_dim), unit norm."""
        x_BLD = self.language_states(ids_BL, mask_BL)
        weights_BL1 = mask_BL[..., None].to(x_BLD.dtype)
        mean_BD = (x_BLD * weights_BL1).sum(1) / weights_BL1.sum(1).clamp(min=1)
        return F.normalize(self.text_projection(self.text.pooler(mean_BD)), dim=-1)

    def logit_scale_value(self) -> torch.Tensor:
        """exp(logit_scale) clamped to cfg.logit_scale_max: 1 / temperature (eval's dual softmax)."""
        return self.logit_scale.exp().clamp(max=self.cfg.logit_scale_max)

    # --- stage 2: the multi-modal Transformer ---
    def mlm_logits(
        self, ids_BL: torch.Tensor, mask_BL: torch.Tensor, hr_BSCHW: torch.Tensor, lr_BSKCHW: torch.Tensor
    ) -> torch.Tensor:
        """Vocabulary logits of every text position, the consensus of the segments: (B, L, V)."""
        segments_BShwD = self.video(hr_BSCHW, lr_BSKCHW)
        B, S, h, w, D = segments_BShwD.shape
        L = ids_BL.shape[1]
        text_BLD = self.language_states(ids_BL, mask_BL)
        visual_BND = self.visual_embeddings(segments_BShwD.reshape(B * S, h, w, D))
        x_BTD = torch.cat([text_BLD.repeat_interleave(S, dim=0), visual_BND], dim=1)  # rows: (clip, segment)
        mask_BT = torch.cat([mask_BL.repeat_interleave(S, dim=0), mask_BL.new_ones(B * S, h * w)], dim=1)
        bias_B11T = padding_bias(mask_BT)
        for layer in self.text.fusion_layers:
            x_BTD = run(layer, x_BTD, bias_B11T, recompute=self._recompute)
        logits_BSLV = self.mlm_head(x_BTD[:, :L]).view(B, S, L, -1)
        return segment_consensus(logits_BSLV, self.cfg.segment_consensus)


def segment_consensus(logits_BSLV: torch.Tensor, how: str) -> torch.Tensor:
    """Aggregate per-segment logits over the segment axis (ClipBERT's consensus)."""
    if how == "mean":
        return logits_BSLV.mean(1)
    if how == "max":
        return logits_BSLV.amax(1)
    if how == "lse":
        return torch.logsumexp(logits_BSLV, dim=1)
    raise ValueError(f"unknown segment consensus {how!r}")


def _init_weights(module: nn.Module) -> None:
    """BERT's initialisation (normal 0.02, zero biases) for linear layers and embeddings; convolutions
    keep torch's (He) default."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
