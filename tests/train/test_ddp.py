"""torchrun DDP with two CPU processes (gloo): the real launcher, a couple of steps."""

import json
import math
import subprocess
import sys

import pytest

from train.checkpoint import load_checkpoint


@pytest.mark.slow
def test_two_process_ddp_fit(tiny_shards, tiny_tokenizer, tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "train",
        "fit",
        "--config",
        "vidla-tiny-cpu",
        "--shards",
        str(tiny_shards),
        "--output",
        str(run),
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--no-progress",
        f"tokenizer={tiny_tokenizer}",
        "grad_accum=2",  # GradCache across ranks: features gathered from both, gradients synced once
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(run)
    assert state["step"] == 2 and state["world_size"] == 2
    assert len(state["data"]) == 2 and len(state["rng"]) == 2
    assert [d["batches"] for d in state["data"]] == [4, 4]  # each rank its own loader position
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all(math.isfinite(r["loss"]) for r in records)
    assert records[0]["clips_per_s"] > 0
