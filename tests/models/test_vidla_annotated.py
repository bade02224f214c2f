"""End to end: ``python -m curate run --recipe vidla`` with --caption-model/--summary-model pointing at
the tiny checkpoints writes frame captions and summaries into the shards and clips.parquet."""

import json
import os
import subprocess
import sys
import tarfile

import pyarrow.parquet as pq
import pytest

from curate.models.summarize import captions_as_sentences
from samplemedia import make_sample_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_vidla(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "curate", "run", "--recipe", "vidla", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_vidla_recipe_writes_captions_and_summaries(tmp_path, tiny_blip2, tiny_llama):
    make_sample_folder(tmp_path / "in", 1, seconds=40, seed=21)
    out = tmp_path / "out"
    done = run_vidla(
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(out),
        "--caption-model",
        tiny_blip2,
        "--summary-model",
        tiny_llama,
        "--summary-backend",
        "transformers",
        "--model-device",
        "cpu",
        "--caption-max-new-tokens",
        "8",
        "--summary-max-new-tokens",
        "10",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = pq.read_table(out / "clips.parquet").to_pylist()
    assert {r["scale"] for r in rows} >= {"short", "medium"}
    for r in rows:
        assert r["frame_captions"] and len(r["frame_captions"]) == len(r["frame_times"])
        assert all(r["start"] <= t < r["end"] for t in r["frame_times"])
        if r["scale"] == "short":  # short clips keep their texts unsummarized (VidLA table 1)
            assert r["caption"] == captions_as_sentences(r["frame_captions"])
            assert r["subtitle_summary"] is None
        else:
            assert r["caption"] and len(r["caption"].split()) <= 25
            assert r["subtitle_summary"] and len(r["subtitle_summary"].split()) <= 25
    by_key = {r["key"]: r for r in rows}
    samples = {}
    for name in sorted(os.listdir(out / "shards")):
        if name.endswith(".tar"):
            with tarfile.open(out / "shards" / name) as tar:
                for member in tar.getmembers():
                    if member.name.endswith(".json"):
                        samples[member.name[:-5]] = json.load(tar.extractfile(member))
    assert set(samples) == set(by_key)
    for key, sample in samples.items():
        for field in ("frame_captions", "frame_times", "caption", "subtitle_summary"):
            assert sample[field] == by_key[key][field], (key, field)
    assert (out / "failures.jsonl").read_text() == ""


def test_vidla_recipe_refuses_a_missing_model_before_it_starts(tmp_path):
    manifest = tmp_path / "in.csv"  # a usable input: the model check is what must stop the run
    manifest.write_text("video_id\nabc\n")
    done = run_vidla(
        "--input",
        str(manifest),
        "--output",
        str(tmp_path / "out"),
        "--caption-model",
        str(tmp_path / "nowhere" / "blip2"),
    )
    assert done.returncode != 0
    assert "--caption-model" in done.stderr and "nowhere/blip2" in done.stderr and "no such directory" in done.stderr
    assert not (tmp_path / "out").exists()
