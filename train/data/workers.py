"""Where DataLoader workers run.

PyTorch forks its workers from the trainer by default. The trainer runs threads (OpenMP's pool, the
libraries' monitor threads, NCCL's and Beam's when they are loaded), and a fork copies every lock
one of them held at that moment, unlocked by nobody: a worker that then takes the lock waits
forever, and the trainer with it. So the workers are forked from a forkserver instead, a process
that runs no threads and imports ``PRELOAD`` once (each worker does not pay for importing torch
again). What a worker is given (the dataset, its functions) must pickle.
"""

from __future__ import annotations

import multiprocessing
from typing import Optional

PRELOAD = ["torch", "av", "train.data.shards"]


def worker_context(num_workers: int) -> Optional[multiprocessing.context.BaseContext]:
    """The ``multiprocessing_context`` for a DataLoader with ``num_workers`` (None for no workers:
    DataLoader refuses a context then)."""
    if not num_workers:
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # takes effect when the forkserver starts
    return context
