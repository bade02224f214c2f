"""E-ViLM (section 3.1): an EdgeNeXt frame encoder, a small BERT-style language encoder and a fusion
encoder over [CLS] + words + video patches (with modality type embeddings), pre-trained by
video-text matching (VTM), masked language modeling (MLM, 15% of the words) and masked video modeling
(MVM: 40% of each frame's patches blanked in BEiT blocks, their codes from the frozen semantic
tokenizer predicted). No torch.distributed here.

Frames enter as uint8 (B, T, 3, H, W); the model normalises them itself (ImageNet statistics for
EdgeNeXt, [0, 1] for the tokenizer).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from train.families.evilm.config import EvilmConfig
from train.families.evilm.edgenext import VARIANTS, EdgeNeXt, edgenext_tiny_test, load_edgenext_weights
from train.model.layers import Encoder

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IGNORE = -100


def _prediction_head(width: int, out: int) -> nn.Sequential:
    """BERT's prediction head: dense, GELU, LayerNorm, then the output layer."""
    return nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.LayerNorm(width), nn.Linear(width, out))


class Evilm(nn.Module):
    def __init__(self, cfg: EvilmConfig, tokenizer: Optional[nn.Module] = None):
        super().__init__()
        self.cfg = cfg
        variant = edgenext_tiny_test() if cfg.edgenext == "tiny-test" else VARIANTS[cfg.edgenext]()
        self.video_encoder = EdgeNeXt(variant)
        n_video = cfg.num_frames * cfg.grid * cfg.grid
        self.video_proj = nn.Linear(self.video_encoder.num_features, cfg.fusion_width)
        self.video_pos = nn.Parameter(torch.randn(n_video, cfg.fusion_width) * 0.02)
        # language encoder: token + position embeddings, bidirectional layers; [MASK] is the last row
        self.mask_token_id = cfg.vocab_size
        self.word_embedding = nn.Embedding(cfg.vocab_size + 1, cfg.text_width)
        self.text_pos = nn.Parameter(torch.randn(cfg.context_length, cfg.text_width) * 0.02)
        self.text_encoder = Encoder(
            cfg.text_layers,
            False,
            width=cfg.text_width,
            num_heads=cfg.text_heads,
            mlp_ratio=4.0,
            act="gelu",
            eps=cfg.layer_norm_eps,
        )
        self.text_norm = nn.LayerNorm(cfg.text_width, eps=cfg.layer_norm_eps)
        self.text_proj = nn.Linear(cfg.text_width, cfg.fusion_width)
        # fusion encoder (equation 2)
        self.cls_embedding = nn.Parameter(torch.randn(cfg.fusion_width) * 0.02)
        self.type_text = nn.Parameter(torch.zeros(cfg.fusion_width))
        self.type_video = nn.Parameter(torch.zeros(cfg.fusion_width))
        self.fusion = Encoder(
            cfg.fusion_layers,
            False,
            width=cfg.fusion_width,
            num_heads=cfg.fusion_heads,
            mlp_ratio=4.0,
            act="gelu",
            eps=cfg.layer_norm_eps,
        )
        self.fusion_norm = nn.LayerNorm(cfg.fusion_width, eps=cfg.layer_norm_eps)
        # the multi-modal pooling layer of table 8 (BERT's pooler on [CLS]) and the 2-way head on it
        self.pooler = nn.Sequential(nn.Linear(cfg.fusion_width, cfg.fusion_width), nn.Tanh())
        self.vtm_head = nn.Linear(cfg.fusion_width, 2)
        self.mlm_head = _prediction_head(cfg.fusion_width, cfg.vocab_size)
        self.mvm_head = _prediction_head(cfg.fusion_width, cfg.num_codes)
        self.tokenizer = tokenizer.requires_grad_(False).eval() if tokenizer is not None else None
        if tokenizer is not None:
            tcfg = tokenizer.cfg
            if tokenizer.num_codes != cfg.num_codes:
                raise ValueError(f"tokenizer has {tokenizer.num_codes} codes, config says {cfg.num_codes}")
            if (tcfg.image_size, tcfg.num_frames, tcfg.patch_size) != (cfg.image_size, cfg.num_frames, 32):
                raise ValueError(
                    f"tokenizer codes {tcfg.num_frames} frames of {tcfg.image_size}^2 in patches of "
                    f"{tcfg.patch_size}; MVM needs {cfg.num_frames} frames of {cfg.image_size}^2 in EdgeNeXt's 32"
                )

    def train(self, mode: bool = True) -> "Evilm":
        super().train(mode)
        if self.tokenizer is not None:
            self.tokenizer.eval()  # frozen: the tokenizer "escorts" pre-training in eval mode
        return self

    # --- encoders ---
    def video_tokens(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """uint8 or [0, 255] float frames -> video embeddings e^V (B, T * h * w, fusion_width)."""
        B, T, C, H, W = frames_BTCHW.shape
        if (T, H, W) != (self.cfg.num_frames, self.cfg.image_size, self.cfg.image_size):
            raise ValueError(
                f"frames {tuple(frames_BTCHW.shape[1:])} do not match the model's "
                f"{self.cfg.num_frames} frames of {self.cfg.image_size}^2"
            )
        mean = torch.tensor(IMAGENET_MEAN, device=frames_BTCHW.device).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=frames_BTCHW.device).view(3, 1, 1)
        x = (frames_BTCHW.flatten(0, 1).float() / 255.0 - mean) / std
        grid_BCHW = self.video_encoder(x)
        tokens = grid_BCHW.flatten(2).transpose(1, 2).reshape(B, -1, grid_BCHW.shape[1])
        return self.video_proj(tokens) + self.video_pos

    def text_tokens(self, ids_BL: torch.Tensor, mask_BL: torch.Tensor) -> torch.Tensor:
        """Token ids (may hold [MASK]) -> language embeddings e^L (B, L, fusion_width)."""
        L = ids_BL.shape[1]
        if L > self.cfg.context_length:
            raise ValueError(f"{L} text tokens exceed context_length {self.cfg.context_length}")
        x = self.word_embedding(ids_BL) + self.text_pos[:L]
        x = self.text_encoder(x, attn_mask=mask_BL.bool()[:, None, None, :])
        return self.text_proj(self.text_norm(x))

    def fuse(self, video_BND: torch.Tensor, text_BLD: torch.Tensor, text_mask_BL: torch.Tensor):
        """Equation 2: [CLS, e^L + t^L, e^V + t^V] through the fusion encoder -> (h_cls, h_L, h_V)."""
        B, L = text_BLD.shape[:2]
        x = torch.cat([self.cls_embedding.expand(B, 1, -1), text_BLD + self.type_text, video_BND + self.type_video], 1)
        keep = torch.cat([text_mask_BL.new_ones(B, 1), text_mask_BL, text_mask_BL.new_ones(B, video_BND.shape[1])], 1)
        h = self.fusion_norm(self.fusion(x, attn_mask=keep.bool()[:, None, None, :]))
        return h[:, 0], h[:, 1 : 1 + L], h[:, 1 + L :]

    def match_logits(self, video_BND, text_BLD, text_mask_BL) -> torch.Tensor:
        """VTM head on the pooled [CLS]: (B, 2) logits of (no match, match)."""
        return self.vtm_head(self.pooler(self.fuse(video_BND, text_BLD, text_mask_BL)[0]))

    # --- masking ---
    def mask_words(self, ids_BL: torch.Tensor, words_BL: torch.Tensor):
        """BERT masking of ``mlm_ratio`` of the words (positions ``words_BL``): 80% [MASK], 10% a random
        word, 10% kept. Returns (input ids, labels with IGNORE where nothing is predicted)."""
        candidates = words_BL.bool()
        chosen = (torch.rand(ids_BL.shape, device=ids_BL.device) < self.cfg.mlm_ratio) & candidates
        labels = ids_BL.masked_fill(~chosen, IGNORE)
        action = torch.rand(ids_BL.shape, device=ids_BL.device)
        random_words = torch.randint(0, self.cfg.vocab_size, ids_BL.shape, device=ids_BL.device)
        inputs = torch.where(chosen & (action < 0.8), torch.full_like(ids_BL, self.mask_token_id), ids_BL)
        inputs = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_words, inputs)
        return inputs, labels

    def mask_patches(self, frames_BTCHW: torch.Tensor, mask_BThw: torch.Tensor) -> torch.Tensor:
        """Masked patches replaced with zero-value pixels (section 3.2)."""
        pixels = mask_BThw.repeat_interleave(32, dim=-2).repeat_interleave(32, dim=-1)[:, :, None]
        return frames_BTCHW.masked_fill(pixels, 0)

    # --- eval interface (a fusion model: pairs are scored by the VTM head) ---
    def encode_video(self, frames_BTCHW: torch.Tensor) -> torch.Tensor:
        """Per-video states for ``match_scores``: the video embeddings e^V (B, T * h * w, fusion_width)."""
        return self.video_tokens(frames_BTCHW)

    @torch.no_grad()
    def match_scores(
        self, video_VND: torch.Tensor, ids_TL: torch.Tensor, mask_TL: torch.Tensor, batch_size: int = 256
    ) -> torch.Tensor:
        """(V, T) log-probability of "match" from the VTM head for every video-text pair."""
        text_TLD = self.text_tokens(ids_TL, mask_TL)
        V, T = video_VND.shape[0], text_TLD.shape[0]
        pairs = torch.cartesian_prod(torch.arange(V), torch.arange(T)).to(video_VND.device)
        out = []
        for chunk in pairs.split(batch_size):
            v, t = chunk[:, 0], chunk[:, 1]
            out.append(F.log_softmax(self.match_logits(video_VND[v], text_TLD[t], mask_TL[t]).float(), -1)[:, 1])
        return torch.cat(out).view(V, T)


# Table 8 of the paper: each part's parameters and the model attributes that hold it. The video position
# table (T * h * w rows) is the fusion decoder's input embedding, so it counts with the decoder.
TABLE_8 = (
    ("Textual Embedding Layer", 1.2e6, ("word_embedding", "text_pos")),
    ("Textual Encoder", 2.4e6, ("text_encoder", "text_norm")),
    ("Textual MLP Layer", 49.5e3, ("text_proj",)),
    ("Token Type Emb. Layer", 1.2e3, ("cls_embedding", "type_text", "type_video")),
    ("Visual Encoder", 5.3e6, ("video_encoder",)),
    ("Visual MLP Layer", 117e3, ("video_proj",)),
    ("Multi-Modal Decoder", 7.1e6, ("fusion", "fusion_norm", "video_pos")),
    ("Multi-modal Pooling Layer", 147e3, ("pooler",)),
    ("CLS HEAD", 770, ("vtm_head",)),
)
PRETRAINING_ONLY = ("mlm_head", "mvm_head", "tokenizer")  # heads and the frozen tokenizer: not in table 8


def parameter_breakdown(model: Evilm) -> dict:
    """{table 8 part: parameters of this model} plus "pre-training only" (the MLM and MVM heads, the
    frozen tokenizer) and "TOTAL" (the parts of table 8). Every parameter is in exactly one entry."""
    owner = {attr: part for part, _, attrs in TABLE_8 for attr in attrs}
    owner.update({attr: "pre-training only" for attr in PRETRAINING_ONLY})
    counts = {part: 0 for part, _, _ in TABLE_8}
    counts["pre-training only"] = 0
    for name, p in model.named_parameters():
        top = name.split(".", 1)[0]
        if top not in owner:
            raise ValueError(f"parameter {name} belongs to no part of table 8")
        counts[owner[top]] += p.numel()
    counts["TOTAL"] = sum(counts[part] for part, _, _ in TABLE_8)
    return counts


def load_pretrained_weights(model: Evilm, cfg: EvilmConfig):
    """The family's weight loader: published EdgeNeXt weights (``cfg.edgenext_weights``) into the frame encoder."""
    if not cfg.edgenext_weights:
        return "EdgeNeXt: random init (no edgenext_weights)"
    return {
        "edgenext_weights": cfg.edgenext_weights,
        **load_edgenext_weights(model.video_encoder, cfg.edgenext_weights),
    }


def build_evilm(cfg: EvilmConfig) -> Evilm:
    from train.families.evilm.tokenizer import load_semantic_tokenizer

    tokenizer = None
    if cfg.tokenizer_checkpoint:
        tokenizer = load_semantic_tokenizer(cfg.tokenizer_checkpoint)
        cfg = cfg.replace(num_codes=tokenizer.num_codes)
    return Evilm(cfg, tokenizer)
