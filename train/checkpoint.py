"""Checkpoints: atomic writes, finding the latest, and the RNG states that make a resume exact.

A checkpoint is one ``torch.save``d dict (see ``train.fit``): model, optimizer, scheduler, step, the
RNG states and loader positions of every rank, the training and model configs and the tokenizer folder,
all as tensors and plain data, so that it loads with ``torch.load(weights_only=True)``: a checkpoint
someone shared cannot run code when it is read. ``export_safetensors`` writes the model weights alone.
"""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path
from typing import Optional

import numpy as np
import torch

_NAME = re.compile(r"^step_(\d+)\.pt$")


class CheckpointError(ValueError):
    """A checkpoint that is missing or cannot be read."""


def checkpoint_path(run_dir, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:08d}.pt"


def save_checkpoint(state: dict, path) -> Path:
    """Write to a temporary name in the same folder, then rename: a reader (or a resume after a
    kill) never sees a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def list_checkpoints(run_dir) -> list:
    """Checkpoints of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    found = [(int(m.group(1)), p) for p in folder.glob("step_*.pt") if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir) -> Optional[Path]:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def prune_checkpoints(run_dir, keep: int) -> None:
    for path in list_checkpoints(run_dir)[:-keep]:
        path.unlink(missing_ok=True)


def load_checkpoint(path) -> dict:
    path = Path(path)
    if path.is_dir():  # a run folder: its latest checkpoint
        latest = latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(f"no checkpoint in {path}/checkpoints")
        path = latest
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        # numpy arrays: the numpy RNG state of checkpoints written before it was stored as a tensor
        with torch.serialization.safe_globals(_NUMPY_ARRAY_TYPES):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"refusing to load checkpoint {path}: it holds Python objects other than tensors and plain "
            f"data, and unpickling them could run code ({str(exc).splitlines()[-3:]})"
        ) from exc
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc


_NUMPY_CORE = getattr(np, "_core", None) or np.core  # numpy 2 renamed np.core to np._core
_NUMPY_ARRAY_TYPES = [_NUMPY_CORE.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def rng_state() -> dict:
    """The process's RNG states as tensors and plain data (what weights_only loading accepts)."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached_gaussian = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else keys
    np.random.set_state((name, keys.astype(np.uint32), pos, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def export_safetensors(checkpoint, output) -> Path:
    """The model weights of a checkpoint (file or run folder) as one safetensors file, with the family
    and the model config (JSON) in its metadata; the optimizer, RNG and data states are left out."""
    import json

    from safetensors.torch import save_file

    state = load_checkpoint(checkpoint)
    metadata = {
        "family": state.get("family", "vidla"),
        "model_config": json.dumps(state["model_config"]),
        "step": str(state["step"]),
    }
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    save_file({k: v.contiguous() for k, v in state["model"].items()}, str(tmp), metadata=metadata)
    os.replace(tmp, output)
    return output


def init_weights_from(model, checkpoint) -> dict:
    """Copy the model tensors of another run's checkpoint (file or run folder, or a safetensors export)
    into ``model`` by name (``TrainConfig.init_from``: stage 2 of a recipe). Tensors the checkpoint
    lacks stay at their init; tensors the model lacks are ignored; both are reported. A tensor of
    another shape is an error."""
    if str(checkpoint).endswith(".safetensors"):
        from safetensors.torch import load_file

        source = load_file(str(checkpoint))
    else:
        source = load_checkpoint(checkpoint)["model"]
    adapt = getattr(model, "adapt_checkpoint_tensors", None)
    if adapt is not None:  # e.g. VidLA: a temporal embedding of another frame count, interpolated
        source = adapt(source)
    own = model.state_dict()
    wrong = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in source.items()
        if k in own and v.shape != own[k].shape
    ]
    if wrong:
        raise CheckpointError(f"init_from {checkpoint}: tensors of another shape: " + "; ".join(wrong))
    loaded = {k: v for k, v in source.items() if k in own}
    if not loaded:
        raise CheckpointError(f"init_from {checkpoint}: no tensor of the checkpoint fits the model")
    model.load_state_dict(loaded, strict=False)
    return {
        "loaded": len(loaded),
        "left_at_init": sorted(k for k in own if k not in source),
        "ignored": sorted(k for k in source if k not in own),
    }
