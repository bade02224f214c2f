"""A run killed mid-way and resumed reproduces the per-step losses of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from train.__main__ import main
from train.checkpoint import load_checkpoint

STEPS = 5


def _args(shards, run, *extra):
    # 2 loader workers: the resumed data position must survive the worker round robin as well
    return ["fit", "--config", "tiny-cpu", "--shards", str(shards), "--output", str(run), "--steps", str(STEPS),
            "--batch-size", "2", "--no-progress", "num_workers=2", "checkpoint_every=1",
            "model.tube_mask_ratio=0.5", *extra]  # tube masking: the torch RNG must be restored too


def _losses(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records}


@pytest.mark.slow
def test_killed_and_resumed_run_matches_an_uninterrupted_one(tiny_shards, tmp_path):
    reference = tmp_path / "reference"
    assert main(_args(tiny_shards, reference)) == 0

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "train", *_args(tiny_shards, killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (killed / "checkpoints" / "step_00000002.pt").exists():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the trainer and its loader workers, mid-step
        proc.wait()
    stopped_at = load_checkpoint(killed)["step"]
    assert 2 <= stopped_at < STEPS

    assert main(_args(tiny_shards, killed, "--resume")) == 0
    assert _losses(killed) == _losses(reference)
    final_ref, final = load_checkpoint(reference), load_checkpoint(killed)
    assert final["step"] == STEPS and final["data"] == final_ref["data"]
    for name, tensor in final_ref["model"].items():
        assert (final["model"][name] == tensor).all(), name
