"""VIMPAC (Tan et al.): a token transformer over frozen dVAE codes, pre-trained by mask-then-predict with
3-D block masking and a clip-level contrastive loss between two windows of the same video.

Layout of one layer ("T,H|W", appendix A.1 and table 13): temporal attention (each spatial position
attends over the frames), then the spatial block whose heads are split between attention along the
height and attention along the width (sparse-transformer style, outputs concatenated), then the MLP;
each block post-LN (``LayerNorm(x + W_out attn)``). [CLS] joins every attended sequence and its outputs
are averaged (TimeSformer's rule, equation 15). No torch.distributed here.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from train.families.vimpac.config import VimpacConfig
from train.masking import block_mask_3d, blocks_for_ratio
from train.vq import DalleEncoder, DalleTokenizer, load_dalle_encoder

INIT_STD = 0.02  # BERT's initializer range


class AxisAttention(nn.Module):
    """Multi-head attention along one axis of a (B, T, H, W, D) grid, with [CLS] in every sequence."""

    def __init__(self, width: int, out_width: int, heads: int, axis: int, dropout: float):
        super().__init__()
        self.axis, self.heads, self.dropout = axis, heads, dropout
        self.query = nn.Linear(width, out_width)
        self.key = nn.Linear(width, out_width)
        self.value = nn.Linear(width, out_width)

    def forward(self, cls_BD: torch.Tensor, x_BTHWD: torch.Tensor):
        x = x_BTHWD.movedim(self.axis, -2)  # (B, ..., L, D): the attended axis next to the features
        batch_shape, D = x.shape[:-2], x.shape[-1]
        cls = cls_BD.view(cls_BD.shape[0], *([1] * (len(batch_shape) - 1)), 1, D).expand(*batch_shape, 1, D)
        seq_NLD = torch.cat([cls, x], dim=-2).flatten(0, -3)  # (N sequences, 1 + L, D)

        def split(t):
            return t.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (N, heads, 1 + L, hd)

        out = F.scaled_dot_product_attention(
            split(self.query(seq_NLD)),
            split(self.key(seq_NLD)),
            split(self.value(seq_NLD)),
            dropout_p=self.dropout if self.training else 0.0,
        )
        out_NLE = out.transpose(1, 2).flatten(-2).unflatten(0, batch_shape)  # (B, ..., 1 + L, E)
        cls_out_BE = out_NLE[..., 0, :].flatten(1, -2).mean(1)  # averaged over its copies
        return cls_out_BE, out_NLE[..., 1:, :].movedim(-2, self.axis)


class AttentionBlock(nn.Module):
    """Attentions over the given axes on split heads, concatenated, projected; post-LN residual."""

    def __init__(self, cfg: VimpacConfig, axes: tuple):
        super().__init__()
        n = len(axes)
        self.attentions = nn.ModuleList(
            AxisAttention(cfg.width, cfg.attn_width // n, cfg.heads // n, axis, cfg.dropout) for axis in axes
        )
        self.dense = nn.Linear(cfg.attn_width, cfg.width)
        self.norm = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, cls_BD, x_BTHWD):
        outs = [attention(cls_BD, x_BTHWD) for attention in self.attentions]
        cls_att = torch.cat([c for c, _ in outs], dim=-1)
        x_att = torch.cat([x for _, x in outs], dim=-1)
        return (self.norm(cls_BD + self.drop(self.dense(cls_att))), self.norm(x_BTHWD + self.drop(self.dense(x_att))))


class SpatioTemporalLayer(nn.Module):
    """Temporal attention, then height|width attention, then the MLP (equations 12-14)."""

    def __init__(self, cfg: VimpacConfig):
        super().__init__()
        self.temporal = AttentionBlock(cfg, axes=(1,))
        self.spatial = AttentionBlock(cfg, axes=(2, 3))
        self.mlp = nn.Sequential(
            nn.Linear(cfg.width, cfg.mlp_dim), nn.GELU(), nn.Linear(cfg.mlp_dim, cfg.width), nn.Dropout(cfg.dropout)
        )
        self.norm = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)

    def forward(self, cls_BD, x_BTHWD):
        cls_BD, x_BTHWD = self.temporal(cls_BD, x_BTHWD)
        cls_BD, x_BTHWD = self.spatial(cls_BD, x_BTHWD)
        return self.norm(cls_BD + self.mlp(cls_BD)), self.norm(x_BTHWD + self.mlp(x_BTHWD))


class ContrastiveHead(nn.Module):
    """The SimCLR-style MLP on [CLS] (appendix A.2): (Linear, BatchNorm, ReLU) x (layers - 1), Linear."""

    def __init__(self, width: int, hidden: int, out: int, layers: int):
        super().__init__()
        mods, fan_in = [], width
        for _ in range(layers - 1):
            mods += [nn.Linear(fan_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            fan_in = hidden
        mods.append(nn.Linear(fan_in, out, bias=False))
        self.mlp = nn.Sequential(*mods)

    def forward(self, x_BD):
        return self.mlp(x_BD)


class Vimpac(nn.Module):
    def __init__(self, cfg: VimpacConfig):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = DalleTokenizer(DalleEncoder(cfg.dvae_hidden, cfg.dvae_blocks_per_group, cfg.num_codes))
        self.mask_id = cfg.num_codes  # [MASK] follows the dVAE codes in the embedding table
        side = cfg.token_side
        self.mask_blocks = cfg.mask_blocks or blocks_for_ratio(cfg.num_frames, side, side)
        self.embedding = nn.Embedding(cfg.num_codes + 1, cfg.width)
        self.cls_token = nn.Parameter(torch.randn(cfg.width) * INIT_STD)
        # factorised positions (appendix A.1, equation 8): pos_T(t) + pos_H(i) + pos_W(j), and one for [CLS]
        self.pos_cls = nn.Parameter(torch.randn(cfg.width) * INIT_STD)
        self.pos_t = nn.Parameter(torch.randn(cfg.num_frames, cfg.width) * INIT_STD)
        self.pos_h = nn.Parameter(torch.randn(side, cfg.width) * INIT_STD)
        self.pos_w = nn.Parameter(torch.randn(side, cfg.width) * INIT_STD)
        self.ln_pre = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(SpatioTemporalLayer(cfg) for _ in range(cfg.layers))
        # token head (equations 16-17): dense, GELU, LayerNorm, then the tied code embedding + own bias
        self.token_transform = nn.Sequential(
            nn.Linear(cfg.width, cfg.width), nn.GELU(), nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        )
        self.token_bias = nn.Parameter(torch.zeros(cfg.num_codes))
        self.contrastive_head = ContrastiveHead(cfg.width, cfg.head_hidden, cfg.embed_dim, cfg.head_layers)
        self._init_weights()

    def _init_weights(self) -> None:
        for name, module in self.named_modules():
            if name.startswith("tokenizer"):
                continue
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=INIT_STD)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def adapt_checkpoint_tensors(self, state: dict) -> dict:
        """A checkpoint of another input size made to fit (``init_from``: the high-resolution stage starts
        from the S=128 run, section 4.2): position tables of another length are interpolated, bicubic
        over patch centres, "as in Dosovitskiy et al. (2021)"."""
        state = dict(state)
        for name in ("pos_t", "pos_h", "pos_w"):
            own = getattr(self, name)
            source = state.get(name)
            if source is None or source.shape == own.shape or source.ndim != 2 or source.shape[1] != own.shape[1]:
                continue
            grid_1DL1 = source.float().T[None, :, :, None]
            resized = F.interpolate(grid_1DL1, size=(own.shape[0], 1), mode="bicubic", align_corners=False)
            state[name] = resized[0, :, :, 0].T.to(source.dtype)
        return state

    # --- pieces ---
    def tokenize(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, T, 3, S, S) -> dVAE codes (B, T, S/8, S/8)."""
        return self.tokenizer.encode(frames_BTCHW.float() / 255.0)

    def codes_of(self, frames_BTCHW: Optional[torch.Tensor] = None, codes_BTHW: Optional[torch.Tensor] = None):
        """Codes from precomputed codes (checked) or from frames (tokenized on the fly)."""
        if codes_BTHW is None:
            if frames_BTCHW is None:
                raise ValueError("VIMPAC needs frames or codes")
            return self.tokenize(frames_BTCHW)
        if codes_BTHW.numel() and (int(codes_BTHW.min()) < 0 or int(codes_BTHW.max()) >= self.cfg.num_codes):
            raise ValueError(f"precomputed codes outside [0, {self.cfg.num_codes}): not this model's dVAE")
        return codes_BTHW.long()

    def encode_codes(self, codes_BTHW: torch.Tensor):
        """Codes (may hold [MASK]) -> ([CLS] (B, D), token features (B, T, H, W, D))."""
        B, T, H, W = codes_BTHW.shape
        cfg = self.cfg
        if (T, H, W) != (cfg.num_frames, cfg.token_side, cfg.token_side):
            raise ValueError(
                f"codes {tuple(codes_BTHW.shape[1:])} do not match the model's "
                f"{(cfg.num_frames, cfg.token_side, cfg.token_side)}"
            )
        pos_THWD = self.pos_t[:, None, None] + self.pos_h[None, :, None] + self.pos_w[None, None, :]
        x = self.drop(self.ln_pre(self.embedding(codes_BTHW) + pos_THWD))
        cls = self.drop(self.ln_pre(self.cls_token + self.pos_cls)).expand(B, -1)
        for layer in self.layers:
            if self.cfg.grad_checkpointing and self.training and torch.is_grad_enabled():
                from torch.utils.checkpoint import checkpoint

                cls, x = checkpoint(layer, cls, x, use_reentrant=False)
            else:
                cls, x = layer(cls, x)
        return cls, x

    def token_logits(self, features_ND: torch.Tensor) -> torch.Tensor:
        """Features of (masked) tokens -> logits over the dVAE codes (tied to the input embedding)."""
        return F.linear(self.token_transform(features_ND), self.embedding.weight[: self.cfg.num_codes], self.token_bias)

    def sample_mask(self, codes_BTHW: torch.Tensor) -> torch.Tensor:
        B, T, H, W = codes_BTHW.shape
        return block_mask_3d(B, T, H, W, self.mask_blocks, device=codes_BTHW.device)

    # --- training ---
    def pretrain_forward(
        self,
        frames_BTCHW: Optional[torch.Tensor] = None,
        mask_BTHW: Optional[torch.Tensor] = None,
        codes_BTHW: Optional[torch.Tensor] = None,
    ) -> dict:
        """Block-mask the codes, predict them. Returns the masked-token loss and accuracy, and the
        contrastive head's output (B, embed_dim) on the same masked input (section 3.3)."""
        codes = self.codes_of(frames_BTCHW, codes_BTHW)
        mask = self.sample_mask(codes) if mask_BTHW is None else mask_BTHW
        cls, x = self.encode_codes(codes.masked_fill(mask, self.mask_id))
        logits_NC = self.token_logits(x[mask])
        targets_N = codes[mask]
        loss = F.cross_entropy(logits_NC.float(), targets_N) if len(targets_N) else x.sum() * 0.0
        accuracy = (logits_NC.argmax(-1) == targets_N).float().mean() if len(targets_N) else loss.detach()
        return {"mask_loss": loss, "mask_accuracy": accuracy.detach(), "clip_BE": self.contrastive_head(cls)}

    # --- eval interface ---
    def encode_video(
        self, frames_BTCHW: Optional[torch.Tensor] = None, codes_BTHW: Optional[torch.Tensor] = None, **second_window
    ) -> torch.Tensor:
        """uint8 frames or their codes -> unit-norm clip embedding (B, embed_dim), without masking
        (the second window's fields, when given, are ignored: see ``encode_views``)."""
        cls, _ = self.encode_codes(self.codes_of(frames_BTCHW, codes_BTHW))
        return F.normalize(self.contrastive_head(cls).float(), dim=-1)

    def encode_views(self, frames_BTCHW=None, codes_BTHW=None, second_BTCHW=None, second_codes_BTHW=None):
        """Embeddings of both windows of each clip: what clip-to-clip retrieval ranks (VIMPAC has no text)."""
        return (self.encode_video(frames_BTCHW, codes_BTHW), self.encode_video(second_BTCHW, second_codes_BTHW))


def build_vimpac(cfg: VimpacConfig) -> Vimpac:
    return Vimpac(cfg)


def load_dvae_weights(model: Vimpac, cfg: VimpacConfig):
    """The family's weight loader: DALL-E's encoder from ``cfg.dvae_weights`` into the frozen tokenizer
    (its size must be the config's: dvae_hidden, dvae_blocks_per_group, num_codes)."""
    if not cfg.dvae_weights:
        return "dVAE: random frozen encoder (no dvae_weights)"
    from train.vq import dalle_encoder_config

    encoder = load_dalle_encoder(cfg.dvae_weights)
    found = dalle_encoder_config(encoder.state_dict())
    wanted = {"n_hid": cfg.dvae_hidden, "n_blk_per_group": cfg.dvae_blocks_per_group, "vocab_size": cfg.num_codes}
    if found != wanted:
        raise ValueError(
            f"dVAE weights {cfg.dvae_weights} are an encoder with {found}; the model config has "
            f"{wanted} (set model.dvae_hidden / model.dvae_blocks_per_group / model.num_codes)"
        )
    model.tokenizer.encoder.load_state_dict(encoder.state_dict())
    return {"dvae_weights": cfg.dvae_weights, **found}
