"""Initialise HD-VILA from local transformers folders (no hub access):

- ``resnet_weights``: a ``ResNetModel.save_pretrained`` folder (ResNet-50; an ``ResNetForImageClassification``
  folder works too, its ``resnet.`` prefix is dropped). It initialises both frame encoders: all four stages
  of the HR encoder and the first three of the LR encoder (section 5.1: ResNet-50 for F_hr and F_lr).
- ``bert_weights``: a ``BertModel``/``BertForPreTraining``/``BertForMaskedLM`` folder (BERT-large). Layers
  0..language_layers-1 go to the language-only layers and the rest to the multi-modal layers; the MLM
  head comes from ``cls.predictions`` when the folder has it (its decoder from the word embeddings
  when the checkpoint ties them); the pooler initialises the text pooler.

Every tensor of the model's part must be found with its shape, else ``CheckpointError`` lists what
is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from train.model.weights import CheckpointError, read_state_dict


def _strip(state: dict, prefixes) -> dict:
    out = {}
    for key, value in state.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        out[key] = value
    return out


def _copy(target: nn.Module, state: dict, source: str, required=None) -> list:
    """Copy ``state`` into ``target`` by name; problems (missing, shape) as strings."""
    own = target.state_dict()
    problems = [f"missing tensor {k}" for k in (required or own) if k not in state]
    problems += [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if problems:
        raise CheckpointError(f"{source} does not fit the model config: " + "; ".join(problems[:8]))
    target.load_state_dict({k: state[k] for k in own if k in state}, strict=False)
    return [k for k in own if k not in state]


def load_resnet_weights(model, directory) -> dict:
    """Both ResNets of ``model.video`` from a ResNet folder; returns {encoder: tensors loaded}."""
    state = _strip(read_state_dict(Path(directory)), ("resnet.",))
    state = {k: v for k, v in state.items() if k.startswith(("embedder.", "encoder."))}
    if not state:
        raise CheckpointError(f"{directory}: no ResNetModel tensors (embedder.*, encoder.stages.*)")
    report = {}
    for name in ("hr_resnet", "lr_resnet"):
        target = getattr(model.video, name)
        _copy(target, state, f"{directory} ({name})")
        report[name] = len(target.state_dict())
    return report


def load_bert_weights(model, directory) -> dict:
    """The text Transformer (and the MLM head where present) from a BERT folder."""
    cfg = model.cfg
    state = _strip(read_state_dict(Path(directory)), ("bert.",))
    state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
    num_layers = 1 + max((int(m.group(1)) for k in state if (m := re.match(r"encoder\.layer\.(\d+)\.", k))), default=-1)
    if num_layers != cfg.language_layers + cfg.fusion_layers:
        raise CheckpointError(
            f"{directory}: BERT has {num_layers} layers, the config asks for "
            f"{cfg.language_layers} language + {cfg.fusion_layers} fusion layers"
        )
    mapped = {}
    for key, value in state.items():
        m = re.match(r"encoder\.layer\.(\d+)\.(.*)", key)
        if m:
            i = int(m.group(1))
            part = "language_layers" if i < cfg.language_layers else "fusion_layers"
            mapped[f"{part}.{i if i < cfg.language_layers else i - cfg.language_layers}.{m.group(2)}"] = value
        elif key.startswith(("embeddings.", "pooler.")):
            mapped[key] = value
    _copy(model.text, mapped, str(directory))
    report = {"text": len(mapped), "mlm_head": 0}
    head = {k[len("cls.predictions.") :]: v for k, v in state.items() if k.startswith("cls.predictions.")}
    if head:
        if "decoder.weight" not in head:  # tied to the word embeddings, saved once
            head["decoder.weight"] = state["embeddings.word_embeddings.weight"]
        if "decoder.bias" not in head and "bias" in head:
            head["decoder.bias"] = head["bias"]
        head.pop("bias", None)
        _copy(model.mlm_head, head, f"{directory} (MLM head)")
        report["mlm_head"] = len(head)
    return report


def load_weights(model, cfg) -> dict:
    """The family's weight loader: whatever ``cfg`` names; random init for what it does not."""
    report = {}
    with torch.no_grad():
        if cfg.resnet_weights:
            report["resnet"] = load_resnet_weights(model, cfg.resnet_weights)
        if cfg.bert_weights:
            report["bert"] = load_bert_weights(model, cfg.bert_weights)
    return report
