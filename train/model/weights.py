"""Load OpenAI/HF CLIP weights from a local directory written by transformers' CLIPModel.save_pretrained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

# Parameters VidLA adds to CLIP; everything else must come from the checkpoint.
NEW_PARAMETER_MARKERS = ("temporal_norm.", "temporal_attn.", "temporal_embedding", "mst_embedding")


class CheckpointError(ValueError):
    """A CLIP checkpoint directory that cannot initialise the configured model."""


def read_state_dict(directory: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of model.safetensors, a sharded safetensors index, or pytorch_model.bin, in that order."""
    directory = Path(directory)
    single, index = directory / "model.safetensors", directory / "model.safetensors.index.json"
    if single.is_file():
        from safetensors.torch import load_file

        return load_file(str(single))
    if index.is_file():
        from safetensors.torch import load_file

        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(directory / shard)))
        return state
    if (directory / "pytorch_model.bin").is_file():
        return torch.load(directory / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise CheckpointError(
        f"{directory}: no model.safetensors, model.safetensors.index.json or "
        "pytorch_model.bin (expected a directory written by CLIPModel.save_pretrained)"
    )


def config_problems(directory: Path, cfg) -> list[str]:
    """What in the checkpoint's config.json contradicts `cfg` beyond tensor shapes (the activation)."""
    config_file = directory / "config.json"
    if cfg is None or not config_file.is_file():
        return []
    config = json.loads(config_file.read_text())
    return [
        f"{tower} hidden_act {config[tower]['hidden_act']!r} but the model uses {cfg.hidden_act!r}"
        for tower in ("text_config", "vision_config")
        if config.get(tower, {}).get("hidden_act", cfg.hidden_act) != cfg.hidden_act
    ]


def load_clip_weights(
    model: nn.Module,
    directory: str | Path,
    *,
    adapt: Optional[Callable[[dict], dict]] = None,
    new_parameters: tuple = NEW_PARAMETER_MARKERS,
) -> list[str]:
    """Copy every CLIP tensor into `model` by name; returns the parameters left at their init (those
    whose names contain one of `new_parameters`). `adapt` maps the CLIP tensors to the model's first
    (another family's embeddings: inflated kernels, dropped [CLS])."""
    directory = Path(directory)
    state = {k: v for k, v in read_state_dict(directory).items() if not k.endswith("position_ids")}
    if adapt is not None:
        state = adapt(state)
    own = model.state_dict()
    problems = config_problems(directory, getattr(model, "cfg", None))
    problems += [f"unexpected tensor {k}" for k in state if k not in own]
    problems += [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    missing = [k for k in own if k not in state]
    problems += [f"missing tensor {k}" for k in missing if not any(m in k for m in new_parameters)]
    if problems:
        raise CheckpointError(f"{directory}: CLIP checkpoint does not fit the model config: " + "; ".join(problems))
    model.load_state_dict(state, strict=False)
    embeddings = getattr(getattr(model, "vision_model", None), "embeddings", None)
    temporal = getattr(embeddings, "temporal_embedding", None)
    if temporal is not None:  # VidLA section 5: start as CLIP (the local temporal projection is zero already)
        with torch.no_grad():
            temporal.zero_()
    return missing
