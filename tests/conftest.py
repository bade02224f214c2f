"""Shared pytest configuration. The test factories live in tests/factories/ (builders, one module a
topic); their fixtures (factories.fixtures) are registered here for every test."""

import os

# No test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest_plugins = ["factories.fixtures"]
