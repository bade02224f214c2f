"""What a file given to ``python -m train eval --checkpoint`` holds, and what eval still needs for it.

- a training checkpoint (``RUN/checkpoints/step_N.pt``, or the run folder: its latest): the weights,
  the model family and config, the training config (decode settings) and the tokenizer folder;
- a ``python -m train export`` safetensors file: the weights, the family and the model config, but no
  tokenizer nor training config;
- a bare state dict (``torch.save(model.state_dict())``): the weights alone.

What a file lacks comes from ``--config PRESET`` (a train preset, as for fit) and ``--tokenizer DIR``;
without them eval stops with one line saying what the file is and what it needs, never a traceback.
A checkpoint that records no family (those written before the registry were VidLA's) but whose model
config is another family's is caught the same way.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from train import checkpoint as ckpt

# what each kind of file lacks, for the messages
_NEEDS = (
    "evaluate the run folder it came from (--checkpoint RUN, or RUN/checkpoints/step_N.pt), or pass "
    "--config PRESET (the train preset it was trained with) and --tokenizer DIR (the run's tokenizer "
    "folder, RUN/tokenizer)"
)


@dataclass(frozen=True)
class ModelFile:
    family: object  # train.registry.Family
    model_config: object  # the family's model config
    weights: dict  # tensor name -> tensor
    config: object  # train.config.TrainConfig: the decode settings
    tokenizer: Optional[str]  # the tokenizer folder the run saved; None when the file names none
    what: str  # what the file is, for messages


def is_safetensors(path: Path) -> bool:
    """A safetensors file (whatever its name): an 8-byte header length, then the JSON header."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(10)
    return len(head) == 10 and head[8:10] == b'{"'


def _preset(name: Optional[str]):
    if name is None:
        return None, None
    from train.config import get_preset
    from train.registry import family_of_model

    cfg = get_preset(name)
    return cfg, family_of_model(cfg.model)


def _model_config(family, fields: dict, source: str, what: str):
    """The family's model config from recorded fields (no CLIP weights loaded, no recomputation)."""
    names = {f.name for f in dataclasses.fields(family.model_config)}
    unknown = sorted(set(fields) - names)
    if unknown:
        from train.registry import families

        fits = sorted(
            f.name for f in families().values() if set(fields) <= {x.name for x in dataclasses.fields(f.model_config)}
        )
        hint = f"they are family {' or '.join(fits)}'s" if fits else "no registered family has them all"
        raise ckpt.CheckpointError(
            f"{source} ({what}) is read as a {family.name} model, but its model config has fields the "
            f"{family.name} config does not know ({', '.join(unknown)}; {hint}): pass --config PRESET of "
            "the family it was trained as"
        )
    no_init = {k: v for k, v in (("clip_weights", None), ("grad_checkpointing", False)) if k in names}
    return family.model_config(**{**fields, **no_init})


def _family(recorded: Optional[str], preset_family, source: str, what: str):
    from train.registry import get_family

    if recorded and preset_family is not None and recorded != preset_family.name:
        raise ckpt.CheckpointError(
            f"{source} ({what}) holds a {recorded} model; --config names a {preset_family.name} preset"
        )
    if recorded:
        return get_family(recorded)
    return preset_family or get_family("vidla")  # checkpoints from before the registry are VidLA's


def _from_checkpoint(state: dict, source: str, preset: Optional[str]) -> ModelFile:
    from train.config import TrainConfig

    cfg, preset_family = _preset(preset)
    what = "a training checkpoint" + ("" if state.get("family") else " that records no model family")
    family = _family(state.get("family"), preset_family, source, what)
    mcfg = _model_config(family, state["model_config"], source, what)
    train_cfg = TrainConfig.from_dict(state["config"]) if isinstance(state.get("config"), dict) else cfg
    return ModelFile(family, mcfg, state["model"], train_cfg or TrainConfig(), state.get("tokenizer"), what)


def _from_weights(weights: dict, metadata: dict, source: str, what: str, preset: Optional[str]) -> ModelFile:
    from train.config import model_config

    if preset is None:
        raise ckpt.CheckpointError(
            f"{source} is {what}: it holds no tokenizer and no training config, which eval needs; {_NEEDS}"
        )
    cfg, preset_family = _preset(preset)
    family = _family(metadata.get("family"), preset_family, source, what)
    if "model_config" in metadata:
        mcfg = _model_config(family, json.loads(metadata["model_config"]), source, what)
    else:
        mcfg = _model_config(family, dataclasses.asdict(model_config(cfg)), source, what)
    return ModelFile(family, mcfg, weights, cfg, None, what)


def read_model_file(checkpoint, preset: Optional[str] = None) -> ModelFile:
    """The model a checkpoint file or run folder holds (see the module docstring); ``preset``: the
    train preset that supplies what the file lacks. Raises CheckpointError (a ValueError) naming the
    file, what it is and what eval needs."""
    path = Path(checkpoint)
    if is_safetensors(path):
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), "pt") as f:
                metadata = f.metadata() or {}
            weights = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise ckpt.CheckpointError(f"cannot read {path} as safetensors: {exc}") from exc
        what = (
            "a weights-only safetensors export (python -m train export)"
            if "family" in metadata
            else "a safetensors file of weights alone"
        )
        return _from_weights(weights, metadata, str(path), what, preset)
    state = ckpt.load_checkpoint(path)
    trained = isinstance(state, dict) and isinstance(state.get("model"), dict)
    if trained and isinstance(state.get("model_config"), dict):
        return _from_checkpoint(state, str(path), preset)
    import torch

    if isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        what = f"a state dict of {len(state)} tensors (weights alone, not a training checkpoint)"
        return _from_weights(state, {}, str(path), what, preset)
    keys = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
    raise ckpt.CheckpointError(f"{path} is not a checkpoint of python -m train fit (it holds {keys}); {_NEEDS}")
