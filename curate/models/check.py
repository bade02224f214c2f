"""Fail before a run starts when a configured model cannot be used: the path or hub name, the model
type, the packages the stages need. Loads no weights."""

from __future__ import annotations

import json
import os

from curate.models.caption import check_captioner_deps
from curate.models.config import AnnotateConfig, config_from_args
from curate.models.summarize import check_summarizer_deps


def _check_model_dir_or_name(option: str, name: str, expected: tuple) -> None:
    """A local directory must hold a transformers config of one of the expected model types; a hub
    name must resolve (from the cache when offline). Raises ValueError naming the option and path."""
    looks_local = os.path.isabs(name) or name.startswith((".", "~")) or os.path.exists(name)
    if looks_local:
        path = os.path.expanduser(name)
        if not os.path.isdir(path):
            raise ValueError(f"{option} {name!r}: no such directory")
        config_path = os.path.join(path, "config.json")
        if not os.path.isfile(config_path):
            raise ValueError(f"{option} {name!r}: not a model directory (no config.json)")
        try:
            with open(config_path) as f:
                model_type = json.load(f).get("model_type", "")
        except (OSError, ValueError) as exc:
            raise ValueError(f"{option} {name!r}: unreadable config.json ({exc})") from exc
    else:
        try:
            from transformers import AutoConfig  # heavy: models extra
        except ImportError as exc:
            raise ValueError(f"{option} needs the models extra: pip install 'vidlang[models]' ({exc})") from exc
        try:
            model_type = AutoConfig.from_pretrained(name).model_type
        except Exception as exc:  # noqa: BLE001 - any resolution error means the name is unusable
            raise ValueError(
                f"{option} {name!r}: not a local directory and not resolvable as a hub "
                f"model ({type(exc).__name__}: {exc})"
            ) from exc
    if expected and model_type not in expected:
        raise ValueError(f"{option} {name!r}: model_type {model_type!r}, expected one of {expected}")


def validate_models(args_or_config) -> AnnotateConfig:
    """Fail before the pipeline starts when a configured model cannot be used. Returns the config.

    Checks that each model path exists and is a model of the right kind, that the packages the
    stages need import, and that the summary model has a tokenizer. Loads no weights.
    """
    config = config_from_args(args_or_config)
    if config.caption_model:
        _check_model_dir_or_name("--caption-model", config.caption_model, ("blip-2",))

        check_captioner_deps(config.caption_model)
    if config.summary_model:
        _check_model_dir_or_name("--summary-model", config.summary_model, ())

        check_summarizer_deps(config)
    return config
