"""Resume: the real CLI killed with SIGKILL half way (while cutting, then while writing shards) and
rerun over the same output holds every clip exactly once, the same clips as an uninterrupted run."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time

import pyarrow.parquet as pq
import pytest
from factories import resume_sets

from curate.output import failures, resume
from samplemedia import make_sample_folder
from schemas import Failure

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# re-encoding to a small size keeps each video's cut short but not instant, so a kill lands mid-run
OPTIONS = ["--recipe", "hdvila", "--short-side", "128", "--shard-max-samples", "2"]


def command(folder, out) -> list:
    return [sys.executable, "-m", "curate", "run", *OPTIONS, "--input", str(folder), "--output", str(out)]


def env() -> dict:
    return dict(os.environ, PYTHONPATH=REPO, HF_HUB_OFFLINE="1")


def run_until(folder, out, pattern: str, timeout: float = 120) -> None:
    """Start the CLI and SIGKILL it as soon as a file matching `pattern` (under out) exists."""
    proc = subprocess.Popen(command(folder, out), env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not glob.glob(os.path.join(out, pattern)):
            assert proc.poll() is None, f"finished before the kill point: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "kill point never reached"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(out, "clips.parquet"))  # it really was cut off half way


def run_to_end(folder, out) -> None:
    done = subprocess.run(command(folder, out), env=env(), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


def shard_contents(out) -> dict:
    """key -> (shard, clip json) over every tar, checked against the sidecars."""
    found = {}
    for tar_path in sorted(glob.glob(os.path.join(out, "shards", "*.tar"))):
        name = os.path.basename(tar_path)
        sidecar = {r["key"]: r for r in pq.read_table(tar_path[:-4] + ".parquet").to_pylist()}
        with tarfile.open(tar_path) as tar:
            names = tar.getnames()
            for member in names:
                key, ext = member.rsplit(".", 1)
                if ext == "json":
                    assert key not in found, f"{key} twice"
                    meta = json.loads(tar.extractfile(member).read())
                    assert meta == json.loads(json.dumps(sidecar[key]))
                    mp4 = hashlib.sha256(tar.extractfile(f"{key}.mp4").read()).hexdigest()
                    found[key] = (name, meta, mp4)
        assert sorted(names) == sorted(f"{k}.{e}" for k in sidecar for e in ("mp4", "json", "txt"))
    return found


@pytest.mark.slow
def test_killed_runs_resume_to_the_same_clips_exactly_once(tmp_path):
    folder = tmp_path / "videos"
    make_sample_folder(folder, 6, seconds=10, seed=5)
    reference, out = tmp_path / "reference", tmp_path / "resumed"
    run_to_end(folder, reference)

    run_until(folder, out, ".staging/*/manifest.json")  # killed while cutting
    ids = [os.path.basename(p)[: -len(".mp4")] for p in glob.glob(os.path.join(folder, "*.mp4"))]
    skip, staged = resume_sets(str(out), ids)
    assert staged and skip == set(staged)
    run_until(folder, out, "shards/*.parquet")  # killed while writing shards
    first = sorted(glob.glob(os.path.join(out, "shards", "*.parquet")))
    committed = {p: os.stat(p).st_mtime_ns for p in first}
    run_to_end(folder, out)

    expected, got = shard_contents(reference), shard_contents(out)
    assert sorted(got) == sorted(expected)  # nothing lost, nothing duplicated
    for key, (_, meta, mp4) in got.items():
        assert {k: v for k, v in meta.items() if k != "shard"} == {
            k: v for k, v in expected[key][1].items() if k != "shard"
        }
        assert mp4 == expected[key][2]  # the same input gives the same bytes, whichever run cut it
    # shards committed before the kill were kept as they were; new ones got the next numbers
    assert all(os.stat(p).st_mtime_ns == t for p, t in committed.items())
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "shards", "*.tar")))
    assert names == [f"{i:05d}.tar" for i in range(len(names))]
    table = pq.read_table(out / "clips.parquet")
    assert sorted(table.column("key").to_pylist()) == sorted(got)
    assert json.loads((out / "stats.json").read_text())["num_clips"] == len(got)
    assert not (out / ".staging").exists()


def test_resume_state_skips_done_and_terminal_videos_only(tmp_path):
    out = str(tmp_path)
    failures.record_failures(
        out,
        [
            Failure("dropped", "filter", "below_720p"),
            Failure("rate-limited", "download", "http_429"),
            Failure("crashed", "transcript", "error:KeyError"),
            Failure("v9", "cut", "clip_duration_mismatch", key="v9_short_00001"),
        ],
    )
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "00004.tar").write_bytes(b"no sidecar: never committed")
    uncommitted = tmp_path / ".state" / "failures" / "shard-00004.jsonl"  # written before the sidecar
    uncommitted.write_text(json.dumps(Failure("v8", "cut", "cut_failed", key="v8_short_00000")._asdict()))
    (tmp_path / ".staging" / "half").mkdir(parents=True)  # no manifest: an interrupted cut
    state = resume.load_resume_state(out)
    assert state.next_shard_index == 0
    ids = ["dropped", "rate-limited", "crashed", "v9", "v8", "new"]
    assert resume_sets(out, ids) == ({"dropped"}, {})
    assert not (tmp_path / "shards" / "00004.tar").exists() and not (tmp_path / ".staging" / "half").exists()
    assert not uncommitted.exists()


@pytest.fixture(scope="module")
def three_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("three")
    return folder, make_sample_folder(folder, 3, seconds=10, seed=9)


@pytest.mark.parametrize("cap_hours", [None, 1000.0])
def test_finished_videos_are_skipped_with_and_without_a_category_cap(three_videos, tmp_path, cap_hours):
    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline
    from apache_beam.testing.util import assert_that, equal_to

    from curate.beam.recipe import select_videos
    from curate.config import RunConfig
    from curate.media.filter import FilterConfig

    folder, videos = three_videos
    cfg = RunConfig("hdvila", str(folder), str(tmp_path / "out"), filter=FilterConfig(category_hour_cap=cap_hours))
    out = tmp_path / "out"
    failures.record_failures(str(out), [Failure(videos[0].video_id, "transcript", "no_speech")])
    state = resume.load_resume_state(str(out))
    with TestPipeline() as p:
        todo, _, num_read, _ = select_videos(p, cfg, state)
        assert_that(todo | beam.Map(lambda m: m.video_id), equal_to([v.video_id for v in videos[1:]]))
        assert_that(num_read, equal_to([3]), label="AllThreeRead")
