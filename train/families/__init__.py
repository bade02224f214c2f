"""One torch-free module per model family; each calls ``train.registry.register_family`` at import.
``train.registry.families()`` imports every module here (see the registry's docstring)."""
