"""The long-video recipe end to end on shards the curation pipeline makes: ``curate run --video-seconds``
emits whole-video windows beside the sentence clips; stage 1 trains on every clip, stage 2 starts from
stage 1 (``init_from``) with 4x the frames, 75% masking and frozen early layers on the video windows only;
eval prints retrieval JSON; a stopped stage 2 resumes exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from samplemedia import make_sample_video, sentences_for
from train.__main__ import main
from train.checkpoint import load_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WINDOW_SECONDS = 20


@pytest.fixture(scope="module")
def pipeline_shards(tmp_path_factory):
    """Three generated 720p videos with subtitles, curated by the hdvila recipe plus the video scale."""
    root = tmp_path_factory.mktemp("videos")
    for i, seconds in enumerate((44, 30, 24)):
        make_sample_video(root, f"talk{i}", sentences_for(seconds, seed=20 + i), min_duration=seconds, fps=8)
    out = tmp_path_factory.mktemp("dataset")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "curate",
            "run",
            "--recipe",
            "hdvila",
            "--input",
            str(root),
            "--output",
            str(out),
            "--short-side",
            "96",
            "--no-asr",
            "--video-seconds",
            str(WINDOW_SECONDS),
        ],
        env=dict(os.environ, PYTHONPATH=REPO, HF_HUB_OFFLINE="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _fit(config, shards, run, steps, *extra):
    return main(
        [
            "fit",
            "--config",
            config,
            "--shards",
            str(shards),
            "--output",
            str(run),
            "--steps",
            str(steps),
            "--batch-size",
            "2",
            "--no-progress",
            "checkpoint_every=1",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def stage1(pipeline_shards, tmp_path_factory):
    run = tmp_path_factory.mktemp("stage1")
    assert _fit("longvideo-tiny-cpu", pipeline_shards, run, 4) == 0
    return run


def _stage2_args(stage1):
    return (f"init_from={stage1}",)  # the tokenizer comes with it (stage 1 trained a BPE of its own)


@pytest.mark.slow
def test_the_pipeline_writes_video_windows(pipeline_shards):
    rows = pq.read_table(pipeline_shards / "clips.parquet").to_pylist()
    windows = [r for r in rows if r["scale"] == "video"]
    assert {r["scale"] for r in rows} == {"sentence", "video"}
    assert {r["video_id"] for r in windows} == {"talk0", "talk1", "talk2"}
    assert len(windows) >= 4  # the 44 s and 30 s talks do not fit in one 20 s window
    for window in windows:
        assert window["duration"] <= WINDOW_SECONDS and window["subtitle"]
        assert window["subtitle"] == " ".join(s["text"] for s in window["sentences"])


@pytest.mark.slow
def test_two_stages_train_and_stage_two_evaluates(pipeline_shards, stage1, tmp_path, capsys):
    records = _records(stage1)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert set(records[0]["losses"]) == {"subtitle"}  # the caption loss is off unless weighted
    assert not records[-1].get("skipped_samples")  # stage 1 takes every clip

    run = tmp_path / "stage2"
    assert _fit("longvideo-tiny-cpu-long", pipeline_shards, run, 3, *_stage2_args(stage1)) == 0
    records = _records(run)
    assert (run / "tokenizer" / "tokenizer.json").read_text() == (stage1 / "tokenizer" / "tokenizer.json").read_text()
    assert records[-1]["skipped_samples"].get("other_scale", 0) > 0  # sentence clips are not its data
    first, last = load_checkpoint(stage1)["model"], load_checkpoint(run)["model"]
    assert (
        last["vision_model.embeddings.temporal_embedding"].shape
        == first["vision_model.embeddings.temporal_embedding"].shape
    )  # stage 1's table, stretched over 16 steps
    for name, tensor in last.items():
        frozen = name.startswith(
            ("vision_model.embeddings.", "vision_model.pre_layrnorm.", "vision_model.encoder.layers.0.")
        )
        assert (tensor == first[name]).all() == frozen, name

    windows = sum(r["scale"] == "video" for r in pq.read_table(pipeline_shards / "clips.parquet").to_pylist())
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run), "--shards", str(pipeline_shards), "--dsl"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["num_videos"] == windows  # stage 2 evaluates on the video windows only
    for direction in ("t2v", "v2t", "t2v_dsl", "v2t_dsl"):
        assert 0 <= result[direction]["R@1"] <= result[direction]["R@5"] <= 100.0


@pytest.mark.slow
def test_stage_two_resumes_exactly(pipeline_shards, stage1, tmp_path):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    assert _fit("longvideo-tiny-cpu-long", pipeline_shards, whole, 4, *_stage2_args(stage1)) == 0
    assert _fit("longvideo-tiny-cpu-long", pipeline_shards, stopped, 4, *_stage2_args(stage1), "--stop-after", "2") == 0
    assert load_checkpoint(stopped)["step"] == 2
    assert _fit("longvideo-tiny-cpu-long", pipeline_shards, stopped, 4, *_stage2_args(stage1), "--resume") == 0
    assert [r["loss"] for r in _records(stopped)] == [r["loss"] for r in _records(whole)]
    final, reference = load_checkpoint(stopped)["model"], load_checkpoint(whole)["model"]
    for name, tensor in reference.items():
        assert (final[name] == tensor).all(), name
