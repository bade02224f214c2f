"""The closest stand-in here for a multi-worker engine (issue 9): the DirectRunner in multi_processing
mode with 2 worker processes (stages pickled, elements encoded between processes, bundles spread over
workers) curates the same clips, byte for byte, and the same failures as the in-process run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile

import pyarrow.parquet as pq

from curate.__main__ import main
from samplemedia import make_sample_folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def outputs(out) -> tuple:
    """(clips.parquet rows, key -> sha256 of its mp4, failures.jsonl lines) of a run."""
    rows = pq.read_table(out / "clips.parquet").to_pylist()
    mp4 = {}
    for row in rows:
        with tarfile.open(out / "shards" / row["shard"]) as tar:
            mp4[row["key"]] = hashlib.sha256(tar.extractfile(f"{row['key']}.mp4").read()).hexdigest()
    failures = sorted((out / "failures.jsonl").read_text().splitlines())
    return rows, mp4, failures


def test_multi_processing_with_two_workers_equals_the_in_process_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", REPO)  # the worker processes import this checkout
    folder = tmp_path / "videos"
    videos = make_sample_folder(folder, 2, seconds=(30, 34), seed=21)
    shutil.copy(videos[0].info_path, folder / "broken.info.json")  # a video that fails per video
    (folder / "broken.mp4").write_bytes(b"not a video")
    common = ["run", "--recipe", "vidla", "--input", str(folder), "--shard-max-samples", "2"]
    assert main([*common, "--output", str(tmp_path / "inprocess")]) == 0
    assert (
        main(
            [
                *common,
                "--output",
                str(tmp_path / "workers"),
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=2",
            ]
        )
        == 0
    )
    expected, got = outputs(tmp_path / "inprocess"), outputs(tmp_path / "workers")
    assert got == expected
    rows, _, failures = got
    assert {r["video_id"] for r in rows} == {v.video_id for v in videos}
    assert {r["scale"] for r in rows} == {"short", "medium"} and len({r["shard"] for r in rows}) > 1
    assert [json.loads(f)["video_id"] for f in failures] == ["broken"]
