"""BERT in plain torch with the parameter names of transformers' ``BertModel`` (``embeddings.*``,
``encoder.layer.{i}.*``, ``pooler.*``) and ``BertForPreTraining``'s MLM head (``cls.predictions.*``):
post-LayerNorm layers, exact GELU, additive padding mask. HD-VILA splits the stack: the first layers
encode language alone, the last ones language and video tokens together (section 4.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Embeddings(nn.Module):
    """Word + learnable 1D position + token type embeddings, LayerNorm, dropout."""

    def __init__(
        self,
        vocab_size: int,
        width: int,
        max_positions: int,
        type_vocab_size: int,
        eps: float,
        dropout: float,
    ):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, width)
        self.position_embeddings = nn.Embedding(max_positions, width)
        self.token_type_embeddings = nn.Embedding(type_vocab_size, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids_BL: torch.Tensor) -> torch.Tensor:
        positions_L = torch.arange(ids_BL.shape[1], device=ids_BL.device)
        x_BLD = (
            self.word_embeddings(ids_BL)
            + self.position_embeddings(positions_L)[None]
            + self.token_type_embeddings.weight[0]
        )
        return self.dropout(self.LayerNorm(x_BLD))


class SelfAttention(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)


class DenseNorm(nn.Module):
    """``dense`` -> dropout -> LayerNorm(. + residual): BERT's SelfOutput and Output."""

    def __init__(self, in_width: int, width: int, eps: float, dropout: float):
        super().__init__()
        self.dense = nn.Linear(in_width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, width: int, eps: float, dropout: float):
        super().__init__()
        self.self = SelfAttention(width)
        self.output = DenseNorm(width, width, eps, dropout)


class Intermediate(nn.Module):
    def __init__(self, width: int, intermediate: int):
        super().__init__()
        self.dense = nn.Linear(width, intermediate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, width: int, heads: int, intermediate: int, eps: float, dropout: float):
        super().__init__()
        self.num_heads = heads
        self.attention_dropout = dropout
        self.attention = Attention(width, eps, dropout)
        self.intermediate = Intermediate(width, intermediate)
        self.output = DenseNorm(intermediate, width, eps, dropout)

    def forward(self, x_BLD: torch.Tensor, bias_B11L: torch.Tensor) -> torch.Tensor:
        """``bias_B11L``: 0 where a key may be attended to, -inf (or a large negative) where not."""
        B, L, D = x_BLD.shape
        attn = self.attention.self

        def heads(proj: nn.Linear) -> torch.Tensor:
            return proj(x_BLD).view(B, L, self.num_heads, D // self.num_heads).transpose(1, 2)

        context_BHLd = F.scaled_dot_product_attention(
            heads(attn.query),
            heads(attn.key),
            heads(attn.value),
            attn_mask=bias_B11L.to(x_BLD.dtype),
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        context_BLD = context_BHLd.transpose(1, 2).reshape(B, L, D)
        attended_BLD = self.attention.output(context_BLD, x_BLD)
        return self.output(self.intermediate(attended_BLD), attended_BLD)


def padding_bias(mask_BL: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """(B, 1, 1, L) additive attention bias: 0 on tokens, the dtype's minimum on padding (as BERT)."""
    return (1.0 - mask_BL[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class PredictionTransform(nn.Module):
    def __init__(self, width: int, eps: float):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class MLMHead(nn.Module):
    """BERT's MLM head (an MLP over the vocabulary): dense + GELU + LayerNorm, then the decoder."""

    def __init__(self, width: int, vocab_size: int, eps: float):
        super().__init__()
        self.transform = PredictionTransform(width, eps)
        self.decoder = nn.Linear(width, vocab_size)

    def forward(self, x_BLD: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x_BLD))
