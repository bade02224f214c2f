"""Model families of the trainer (DESIGN.md "Where the code lives"): one package per paper."""
