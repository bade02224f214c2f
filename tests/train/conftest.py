"""Trainer test fixtures: registers tests/train/factories.py under the name ``train_factories``
(tests/factories.py is already imported as ``factories``, so a plain import would get that one)."""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("train_factories", Path(__file__).with_name("factories.py"))
train_factories = importlib.util.module_from_spec(_spec)
sys.modules["train_factories"] = train_factories
_spec.loader.exec_module(train_factories)

from train_factories import hdvila_shards, tiny_shards, tiny_tokenizer  # noqa: F401  (fixtures)
