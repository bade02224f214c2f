"""A run killed mid-way and resumed reproduces the per-step losses of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from factories import fit_args

from train.__main__ import main
from train.checkpoint import load_checkpoint

STEPS = 5


def _args(shards, run, *extra):
    # 2 loader workers: the resumed data position must survive the worker round robin as well;
    # tube masking: the torch RNG must be restored too
    return fit_args(
        shards,
        run,
        "--steps",
        str(STEPS),
        "--batch-size",
        "2",
        "num_workers=2",
        "checkpoint_every=1",
        "model.tube_mask_ratio=0.5",
        *extra,
    )


@pytest.fixture(scope="module")
def reference(tiny_shards, tmp_path_factory):
    """The uninterrupted run every interrupted one is compared with (checkpoints do not change losses)."""
    run = tmp_path_factory.mktemp("reference")
    assert main(_args(tiny_shards, run, "checkpoint_every=100")) == 0
    return run


def _losses(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records}


@pytest.mark.slow
def test_killed_and_resumed_run_matches_an_uninterrupted_one(tiny_shards, tmp_path, reference):
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "train", *_args(tiny_shards, killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
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


@pytest.mark.slow
def test_stop_after_then_resume_from_a_checkpoint_file(tiny_shards, tmp_path, reference):
    stopped = tmp_path / "stopped"
    assert main(_args(tiny_shards, stopped, "checkpoint_every=10", "--stop-after", "2")) == 0
    assert [p.name for p in (stopped / "checkpoints").iterdir()] == ["step_00000002.pt"]
    assert main(_args(tiny_shards, stopped, "--resume-from", str(stopped / "checkpoints" / "step_00000002.pt"))) == 0
    assert _losses(stopped) == _losses(reference)


@pytest.mark.slow
def test_sigterm_stops_after_the_step_with_a_checkpoint(tiny_shards, tmp_path, reference):
    """SIGTERM to the whole process group (as Slurm sends it): the trainer finishes its step, writes a
    checkpoint although none is due, exits 0, and the resumed run matches an uninterrupted one."""
    stopped = tmp_path / "stopped"
    proc = subprocess.Popen(
        [sys.executable, "-m", "train", *_args(tiny_shards, stopped, "checkpoint_every=100")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (stopped / "metrics.jsonl").exists() or not (stopped / "metrics.jsonl").read_text():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["terminated"] and 1 <= summary["step"] < STEPS
    assert load_checkpoint(stopped)["step"] == summary["step"]
    assert main(_args(tiny_shards, stopped, "--resume")) == 0
    assert _losses(stopped) == _losses(reference)


def test_resume_drops_later_and_partial_metrics_lines(tmp_path):
    """A run killed while writing metrics.jsonl leaves a partial last line: resuming drops it with the
    records of steps after the checkpoint, instead of failing to parse it."""
    from train.fit import MetricsLog

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n\n{"step": 2, "loss": 1.5}\n{"step": 3, "loss": 1.2}\n{"step": 4, "lo')
    log = MetricsLog(tmp_path, start_step=2)
    log.write(3, {"loss": 1.0})
    log.close()
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"step": 1, "loss": 2.0},
        {"step": 2, "loss": 1.5},
        {"step": 3, "loss": 1.0},
    ]
