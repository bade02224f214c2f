"""Shared pytest configuration. Test factories live in tests/factories.py."""
import os

# No test may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The shared factories (generated media, ...) are fixtures for every test.
pytest_plugins = ["factories"]
