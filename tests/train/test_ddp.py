"""torchrun DDP with two CPU processes (gloo): the real launcher, a couple of steps."""

import json
import math
import subprocess
import sys

import pytest
from factories import fit_args, make_tiny_shards

from train.checkpoint import load_checkpoint
from train.data.shards import LoaderState


@pytest.mark.slow
def test_two_process_ddp_fit(tiny_tokenizer, tmp_path):
    # a corrupt clip in each shard: each rank (a shard of its own per epoch) skips some
    shards = make_tiny_shards(tmp_path / "data", 8, 4, corrupt=[0, 4])
    run = tmp_path / "run"
    # grad_accum=2: GradCache across ranks, features gathered from both, gradients synced once
    fit = fit_args(shards, run, "--steps", "2", "--batch-size", "2", f"tokenizer={tiny_tokenizer}", "grad_accum=2")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "train", *fit]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint(run)
    assert state["step"] == 2 and state["world_size"] == 2
    assert len(state["data"]) == 2 and len(state["rng"]) == 2
    assert [d["batches"] for d in state["data"]] == [4, 4]  # each rank its own loader position
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2] and all(math.isfinite(r["loss"]) for r in records)
    assert records[0]["clips_per_s"] > 0
    # skipped samples are those of both ranks' loaders, not rank 0's alone
    per_rank = [LoaderState.from_dict(d).skipped()["undecodable"] for d in state["data"]]
    assert all(n > 0 for n in per_rank)
    assert records[-1]["skipped_samples"] == {"undecodable": sum(per_rank)}
    # each rank prints its summary (the lines may interleave), both with the count of all ranks
    assert done.stdout.count('"skipped_samples": ' + json.dumps({"undecodable": sum(per_rank)})) == 2
