"""A sample function that takes a lock of its module, for the test that loader workers do not inherit
the locks a trainer thread holds (train.data.workers)."""

import threading

from train.data.samples import frames_sample

LOCK = threading.Lock()


def locked_frames_sample(raw, meta, cfg, rng):
    with LOCK:
        return frames_sample(raw, meta, cfg, rng)
