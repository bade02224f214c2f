"""Punctuation restoration and sentence boundaries with the ``punctuators`` package (BERT-style
ONNX models: a SentencePiece tokenizer, an ONNX graph and a config.yaml).

``load_punctuator(None)`` is None: the sentence stage then falls back to the pause segmenter
(curate.text.sentences) and records that in every Sentence. A model that was asked for but cannot
be loaded is a PunctuatorError (a configuration mistake, not a per-video failure).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Optional


class PunctuatorError(ValueError):
    """A punctuation model was asked for and cannot be loaded (named, with the reason)."""


class Punctuator:
    """A loaded punctuators model: ``sentences(text)`` -> punctuated, cased sentences."""

    def __init__(self, name: str, model):
        self.name = name  # recorded in Sentence.segmenter as "punctuators:<name>"
        self._model = model

    @property
    def segmenter(self) -> str:
        return f"punctuators:{self.name}"

    def sentences(self, text: str) -> list[str]:
        if not text.strip():
            return []
        (sentences,) = self._model.infer([text], apply_sbd=True)
        return [s for s in sentences if s.strip()]


def _model_from_directory(directory: Path):
    from punctuators.models.punc_cap_seg_model import (  # heavy: only with --punctuator
        PunctCapSegConfigONNX,
        PunctCapSegModelONNX,
    )

    def only(pattern: str, preferred: str) -> str:
        if (directory / preferred).exists():
            return preferred
        found = sorted(p.name for p in directory.glob(pattern))
        if len(found) != 1:
            raise PunctuatorError(f"punctuation model {directory}: expected one {pattern} file, found {found}")
        return found[0]

    if not (directory / "config.yaml").exists():
        raise PunctuatorError(f"punctuation model {directory}: no config.yaml")
    cfg = PunctCapSegConfigONNX(
        directory=str(directory),
        spe_filename=only("*.model", "sp.model"),
        model_filename=only("*.onnx", "model.onnx"),
    )
    return PunctCapSegModelONNX(cfg, ort_providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=4)
def load_punctuator(name_or_path: Optional[str]) -> Optional[Punctuator]:
    """The punctuators model at a local directory (config.yaml + one .onnx + one SentencePiece
    .model) or by hub name ("pcs_en", "1-800-BAD-CODE/punct_cap_seg_en", ...); None for None/"".

    Loaded once per process (cached), so a Beam worker calls this in setup and every element
    reuses it. The hub is only reached when HF_HUB_OFFLINE is unset; offline, a hub name works
    only if the model is in the local hub cache.
    """
    if not name_or_path:
        return None
    try:
        from punctuators.models import PunctCapSegModelONNX  # heavy: only with --punctuator
    except ImportError as exc:
        raise PunctuatorError(
            f"punctuation model {name_or_path!r} needs the 'punct' extra: pip install 'vidlang[punct]' ({exc})"
        ) from exc
    path = Path(os.path.expanduser(name_or_path))
    try:
        if path.is_dir():
            model = _model_from_directory(path)
            name = path.name
        else:
            model = PunctCapSegModelONNX.from_pretrained(name_or_path, ort_providers=["CPUExecutionProvider"])
            name = name_or_path
    except PunctuatorError:
        raise
    except Exception as exc:  # noqa: BLE001 - hub/onnxruntime/sentencepiece errors, reported by name
        raise PunctuatorError(
            f"punctuation model {name_or_path!r} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    return Punctuator(name, model)
