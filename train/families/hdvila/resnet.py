"""A bottleneck ResNet in plain torch whose parameter names are those of transformers' ``ResNetModel``
(``embedder.embedder.*``, ``encoder.stages.{i}.layers.{j}.*``), so a ResNet-50 folder written by
``ResNetModel.save_pretrained`` loads by name. ``num_stages`` < 4 builds only the first stages (HD-VILA's
LR encoder is stages 1-3 of a ResNet-50).

The layout follows ResNetModel's defaults: 7x7/2 stem + 3x3/2 max-pool, stage 1 at stride 1 and the
others at stride 2, the stride on each stage's first 3x3 convolution, a 1x1 projection shortcut where
the shape changes, 4x channel reduction inside a bottleneck.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def run(module: nn.Module, *args, recompute: bool = False):
    """``module(*args)``; with ``recompute`` (training with gradient checkpointing) its activations
    are recomputed in backward instead of kept."""
    if recompute and torch.is_grad_enabled():
        return checkpoint(module, *args, use_reentrant=False)
    return module(*args)


class ConvLayer(nn.Module):
    """Conv (no bias) + BatchNorm (+ ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, act: bool = True):
        super().__init__()
        self.convolution = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False
        )
        self.normalization = nn.BatchNorm2d(out_channels)
        self.activation = nn.ReLU() if act else nn.Identity()

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.activation(self.normalization(self.convolution(x_BCHW)))


class Embedder(nn.Module):
    def __init__(self, embedding_size: int):
        super().__init__()
        self.embedder = ConvLayer(3, embedding_size, kernel_size=7, stride=2)
        self.pooler = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.pooler(self.embedder(x_BCHW))


class ShortCut(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.convolution = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
        self.normalization = nn.BatchNorm2d(out_channels)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.normalization(self.convolution(x_BCHW))


class Bottleneck(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, reduction: int = 4):
        super().__init__()
        reduced = out_channels // reduction
        self.shortcut = (
            ShortCut(in_channels, out_channels, stride) if in_channels != out_channels or stride != 1 else nn.Identity()
        )
        self.layer = nn.Sequential(
            ConvLayer(in_channels, reduced, kernel_size=1),
            ConvLayer(reduced, reduced, stride=stride),
            ConvLayer(reduced, out_channels, kernel_size=1, act=False),
        )
        self.activation = nn.ReLU()

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.activation(self.layer(x_BCHW) + self.shortcut(x_BCHW))


class Stage(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, depth: int):
        super().__init__()
        self.layers = nn.Sequential(
            Bottleneck(in_channels, out_channels, stride),
            *[Bottleneck(out_channels, out_channels, 1) for _ in range(depth - 1)],
        )

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.layers(x_BCHW)


class Encoder(nn.Module):
    def __init__(self, embedding_size: int, hidden_sizes: Sequence[int], depths: Sequence[int]):
        super().__init__()
        in_sizes = [embedding_size, *hidden_sizes[:-1]]
        self.stages = nn.ModuleList(
            Stage(i, o, stride=1 if n == 0 else 2, depth=d)
            for n, (i, o, d) in enumerate(zip(in_sizes, hidden_sizes, depths))
        )


class ResNet(nn.Module):
    """``forward`` returns the feature map of every built stage: strides 4, 8, 16, 32."""

    def __init__(
        self,
        embedding_size: int,
        hidden_sizes: Sequence[int],
        depths: Sequence[int],
        num_stages: int = 4,
        norm_eval: bool = False,
    ):
        super().__init__()
        self.embedder = Embedder(embedding_size)
        self.encoder = Encoder(embedding_size, hidden_sizes[:num_stages], depths[:num_stages])
        self.norm_eval = norm_eval
        self.grad_checkpointing = False  # recompute each stage in backward (only with norm_eval)
        if norm_eval:  # frozen BatchNorm: fixed statistics and affine parameters (detectron's FrozenBN)
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.requires_grad_(False)

    def forward(self, x_BCHW: torch.Tensor) -> list:
        x = self.embedder(x_BCHW)
        features = []
        for stage in self.encoder.stages:
            x = run(stage, x, recompute=self.grad_checkpointing and self.norm_eval and self.training)
            features.append(x)
        return features

    def train(self, mode: bool = True) -> ResNet:
        """With ``norm_eval`` BatchNorm always uses (and keeps) its running statistics; any batch norm
        (a SyncBatchNorm too, should someone convert it)."""
        super().train(mode)
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self
