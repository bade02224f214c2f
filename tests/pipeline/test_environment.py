"""Faults of the machine are not faults of a video (issue 22, items 2 and 3): a full disk stops the run
without recording anything against the videos, and a rerun with space brings every clip; damaged
hidden state is redone, skipped or named, never a traceback on every rerun."""

from __future__ import annotations

import json
import os

import pytest

from curate.__main__ import main
from curate.errors import EnvironmentFault
from curate.media.cut import ClipRequest, CutConfig, cut_clips
from samplemedia import make_sample_folder


def test_a_clip_written_to_a_full_disk_is_an_environment_fault_not_a_bad_clip(sample_video, tmp_path):
    out = tmp_path / "work"
    out.mkdir()
    good, full = ClipRequest("good", 1.0, 4.0), ClipRequest("full", 5.0, 8.0)
    os.symlink("/dev/full", out / "full.mp4")  # every write there fails with ENOSPC, as on a full disk
    with pytest.raises(EnvironmentFault, match="No space left on device"):
        cut_clips(sample_video.media_path, [good, full], str(out), CutConfig())


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    make_sample_folder(folder, 2, seconds=(20, 22), seed=3)
    return folder


def run(folder, out, *extra) -> int:
    return main(["run", "--recipe", "hdvila", "--input", str(folder), "--output", str(out), *extra])


def test_a_run_below_the_free_space_margin_stops_and_the_rerun_loses_nothing(folder, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    assert run(folder, reference) == 0
    out = tmp_path / "out"
    monkeypatch.setenv("CURATE_MIN_FREE_BYTES", str(1 << 60))  # no disk has that much free: "full"
    with pytest.raises(SystemExit, match="below the margin.*CURATE_MIN_FREE_BYTES"):
        run(folder, out)
    monkeypatch.delenv("CURATE_MIN_FREE_BYTES")
    assert run(folder, out) == 0
    expected = json.loads((reference / "stats.json").read_text())
    got = json.loads((out / "stats.json").read_text())
    assert got["num_clips"] == expected["num_clips"] > 0
    assert got["counts"] == expected["counts"]  # no video or clip was dropped by the full disk
    assert (out / "failures.jsonl").read_text() == (reference / "failures.jsonl").read_text()


def test_damaged_settings_name_the_file_and_damaged_records_are_skipped(folder, tmp_path):
    out = tmp_path / "out"
    assert run(folder, out) == 0
    settings = out / ".state" / "settings.json"
    good = settings.read_bytes()
    settings.write_bytes(good[: len(good) // 2])
    with pytest.raises(SystemExit, match=r"settings\.json.*damaged.*--output"):
        run(folder, out)
    settings.write_bytes(good)
    failures_dir = out / ".state" / "failures"
    failures_dir.mkdir(parents=True, exist_ok=True)
    (failures_dir / "run-1-garbage.jsonl").write_text('{"video_id": "x", "stage": "filter"\nnot json\n')
    staged = out / ".staging" / "half-written"
    staged.mkdir(parents=True)
    (staged / "manifest.json").write_text('{"video_id": "half-wri')
    assert run(folder, out) == 0  # the bad lines are skipped, the damaged staging is redone
    assert not staged.exists()
    assert json.loads((out / "stats.json").read_text())["num_clips"] > 0


def recorded_lines(out) -> list:
    folder = out / ".state" / "failures"
    return sorted(line for p in folder.glob("run-*.jsonl") for line in p.read_text().splitlines())


@pytest.mark.parametrize("cap", [[], ["--category-hour-cap", "0.004"]])
def test_a_rerun_records_no_copy_of_what_earlier_runs_recorded(folder, tmp_path, cap):
    """A rerun reads the same bad rows (and, under a category cap, probes and filters every video
    again): what the records already say is not appended again."""
    import shutil

    videos = tmp_path / "videos"
    shutil.copytree(folder, videos)
    (videos / "orphan.en.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")  # a row without media
    out = tmp_path / "out"
    status = 1 if cap else 0  # the cap (14 s a category) drops both videos: a run that keeps no clip exits 1
    assert run(videos, out, *cap) == status
    first, published = recorded_lines(out), (out / "failures.jsonl").read_text()
    assert any('"orphan"' in line for line in first)
    if cap:
        assert any('"filter"' in line for line in first)  # the cap dropped a video
    assert run(videos, out, *cap) == status
    assert recorded_lines(out) == first
    assert (out / "failures.jsonl").read_text() == published


def test_files_that_vanish_are_redone_not_dropped(folder, tmp_path, sample_video):
    """A media file gone between its probe and its cut, or a staged clip file gone before its shard,
    is the environment's doing: the video is redone by the rerun, never dropped for good."""
    from curate.beam.stages import to_failure
    from curate.errors import StageError
    from curate.media.cut import cut_video
    from curate.output.failures import is_terminal
    from schemas import VideoMeta

    meta = VideoMeta("gone", "", media_path=str(tmp_path / "gone.mp4"))
    with pytest.raises(StageError, match="no longer exists") as err:
        cut_video(meta, [], str(tmp_path / "out"), CutConfig())
    assert not is_terminal(to_failure(err.value, "cut", meta))

    from factories import resume_sets

    from curate.output import write

    out = tmp_path / "killed"
    assert run(folder, out) == 0
    restage_one_clip(out)  # as if a run was killed after staging, before its shard
    staged_folder = write.staging_dir(str(out), "restaged")
    os.remove(
        next(p for p in (os.path.join(staged_folder, n) for n in os.listdir(staged_folder)) if p.endswith(".mp4"))
    )
    skip, staged = resume_sets(str(out), ["restaged"])
    assert skip == set() and staged == {} and not os.path.exists(staged_folder)


def restage_one_clip(out):
    """Stage one video of `out` again under the id "restaged" (its clips from the shard)."""
    import tarfile

    import pyarrow.parquet as pq

    from curate.output import index, write
    from schemas.arrow import row_to_clip

    path = index.partition_paths(str(out))[0]
    rows = pq.read_table(path).to_pylist()
    clips = tuple(row_to_clip(dict(r, video_id="restaged")) for r in rows[:1])
    work = write.local_work_dir(str(out), "t")
    with tarfile.open(path[: -len(".parquet")] + ".tar") as tar:
        data = tar.extractfile(f"{rows[0]['key']}.mp4").read()
    local = os.path.join(work, "clip.mp4")
    with open(local, "wb") as f:
        f.write(data)
    write.commit_staged_video(str(out), write.StagedVideo("restaged", clips, (len(data),)), [local])
    os.rmdir(work)
