"""Only for tests/train/test_shards.py, which still imports ``train_factories`` and is being changed
elsewhere: its import goes to ``from factories import make_tiny_shards``, then this file goes."""

from factories import make_tiny_shards  # noqa: F401
