"""Inputs made to break a run (issue 22), through the real command line: each bad video, row or file
becomes a failure of its own naming what is wrong, every other video is curated, and a rerun over the
same output works."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq

from curate.__main__ import main

FAST = ["--recipe", "hdvila", "--cut-mode", "copy"]


def curate(*args) -> int:
    return main(["run", *FAST, *args])


def failures(out) -> list:
    return [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]


def clip_videos(out) -> set:
    return set(pq.read_table(out / "clips.parquet").column("video_id").to_pylist())


def test_a_file_name_that_is_not_utf8_fails_alone_and_the_rerun_works(sample_video, tmp_path):
    """Item 1: caf\\xe9_video.mp4 (+ .info.json, .en.vtt) beside a good video used to stop the run in
    the input's fingerprint, on every rerun too."""
    folder = tmp_path / "dl"
    shutil.copytree(sample_video.folder, folder)
    bad = os.fsdecode(b"caf\xe9_video")
    shutil.copy(sample_video.media_path, folder / f"{bad}.mp4")
    shutil.copy(sample_video.info_path, folder / f"{bad}.info.json")
    shutil.copy(sample_video.subtitle_path, folder / f"{bad}.en.vtt")
    out = tmp_path / "out"
    assert curate("--input", str(folder), "--output", str(out)) == 0
    assert clip_videos(out) == {sample_video.video_id}
    [failure] = failures(out)
    assert (failure["stage"], failure["reason"]) == ("read", "undecodable_name")
    assert "caf\\xe9_video.mp4" in failure["detail"]
    written = (out / "clips.parquet").read_bytes()
    assert curate("--input", str(folder), "--output", str(out)) == 0  # the rerun resumes
    assert (out / "clips.parquet").read_bytes() == written
