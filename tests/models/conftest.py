"""Fixtures of the model-stage tests: tiny checkpoints built once per session (tests/models/tiny_models.py)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from tiny_models import make_tiny_blip2, make_tiny_llama  # noqa: E402


@pytest.fixture(scope="session")
def tiny_blip2(tmp_path_factory) -> str:
    return make_tiny_blip2(tmp_path_factory.mktemp("models") / "blip2")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "llama")


@pytest.fixture(scope="session")
def tiny_llama_no_template(tmp_path_factory) -> str:
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "llama-plain", chat_template=False)


@pytest.fixture(scope="session")
def tiny_llama_eos(tmp_path_factory) -> str:
    """Answers end-of-sequence at once: every summary is empty."""
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "llama-eos", answer="eos")
