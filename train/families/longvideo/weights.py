"""CLIP weights for the long-video encoder: the image-text model the recipe starts from (section 3.1).

The CLIP folder (transformers' CLIPModel.save_pretrained) loads through train.model.weights with two
changes to the vision embeddings: the 2D patch kernel is inflated to a Conv3d tubelet kernel (repeated
over the t frames of a tubelet and divided by t, as ViViT and I3D do, appendix A; the image path keeps
a copy of the 2D kernel, section 3.1), and the [CLS]
embedding and its position row are dropped (the video is mean-pooled). A model whose frames give another
patch grid than CLIP's (the paper's 256x256 frames: 16x16 patches vs CLIP-B/16's 14x14) gets CLIP's position
grid resized bicubically. The temporal position embedding is new and starts at zero.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from train.model.weights import CheckpointError, load_clip_weights

PATCH = "vision_model.embeddings.patch_embedding.weight"
TUBELET = "vision_model.embeddings.tubelet_embedding.weight"
IMAGE_PATCH = "vision_model.embeddings.image_patch_embedding.weight"
POSITION = "vision_model.embeddings.position_embedding.weight"
CLASS = "vision_model.embeddings.class_embedding"
NEW_PARAMETERS = ("temporal_embedding",)


def inflate_patch_kernel(weight_DCPP: torch.Tensor, tubelet_frames: int) -> torch.Tensor:
    """(D, 3, P, P) 2D kernel -> (D, 3, t, P, P) whose response to t identical frames is the 2D response."""
    return weight_DCPP[:, :, None].repeat(1, 1, tubelet_frames, 1, 1) / tubelet_frames


def resize_position_grid(position_ND: torch.Tensor, num_patches: int) -> torch.Tensor:
    """(N, D) position embeddings of a square patch grid -> (num_patches, D), bicubic (itself if equal)."""
    N, D = position_ND.shape
    side, new_side = round(N**0.5), round(num_patches**0.5)
    if side * side != N or new_side * new_side != num_patches:
        raise CheckpointError(f"position grid of {N} -> {num_patches} patches: not square grids")
    if N == num_patches:
        return position_ND
    grid_1DSS = position_ND.float().T.reshape(1, D, side, side)
    resized = F.interpolate(grid_1DSS, size=(new_side, new_side), mode="bicubic", align_corners=False)
    return resized.reshape(D, num_patches).T.to(position_ND.dtype)


def clip_to_longvideo(state: dict, tubelet_frames: int, num_patches: int) -> dict:
    """CLIP's tensors renamed and reshaped for LongVideoCLIP (see the module docstring)."""
    missing = [k for k in (PATCH, POSITION, CLASS) if k not in state]
    if missing:
        raise CheckpointError(f"not a CLIP vision checkpoint: missing {missing}")
    state = dict(state)
    state[IMAGE_PATCH] = state[PATCH].clone()  # images keep CLIP's 2D kernel, untied from the videos'
    state[TUBELET] = inflate_patch_kernel(state.pop(PATCH), tubelet_frames)
    state[POSITION] = resize_position_grid(state[POSITION][1:], num_patches)  # row 0 belongs to [CLS]
    del state[CLASS]
    return state


def load_clip(model: nn.Module, directory: str | Path) -> list[str]:
    """Initialise a LongVideoCLIP from a CLIP folder; returns the parameters left at their init."""
    t, N = model.cfg.tubelet_frames, model.cfg.num_patches
    return load_clip_weights(
        model, directory, adapt=lambda state: clip_to_longvideo(state, t, N), new_parameters=NEW_PARAMETERS
    )


def load_configured_clip(model: nn.Module, cfg) -> dict | None:
    """The registry's weight loader: CLIP weights from ``cfg.clip_weights`` when set."""
    if cfg.clip_weights is None:
        return None
    return {"clip_weights": str(cfg.clip_weights), "left_at_init": load_clip(model, cfg.clip_weights)}
