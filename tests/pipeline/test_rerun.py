"""Reruns into one output (issue 9): every input row ends written or failed once (fault 4), a rerun
under other settings or over a changed input never reuses the old decisions silently (fault 3), and
two runs never write one output at the same time (fault 5). The real command line, in process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from factories import read_failures

from curate.__main__ import main
from samplemedia import make_sample_folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIONS = ["--recipe", "hdvila", "--short-side", "128"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return folder, make_sample_folder(folder, 2, seconds=12, seed=11)


def curate(*args) -> int:
    return main(["run", *OPTIONS, *args])


def clip_keys(out) -> list:
    return sorted(pq.read_table(out / "clips.parquet").column("key").to_pylist())


def accounted_rows(out) -> int:
    """Input rows the output accounts for: videos with clips, videos that failed, bad or repeated rows."""
    kept = set(pq.read_table(out / "clips.parquet").column("video_id").to_pylist())
    lines = read_failures(out)
    dropped = {f["video_id"] for f in lines if f["stage"] != "read"}
    assert not kept & dropped, "a video is both written and dropped"
    return len(kept) + len(dropped) + sum(f["stage"] == "read" for f in lines)


def test_every_manifest_row_is_written_or_failed_once(videos, tmp_path):
    """Fault 4: a repeated id and two rows without an id are failures of their own, and the counts
    add up to the rows read."""
    folder, samples = videos
    manifest = tmp_path / "m.csv"
    rows = [f"{v.video_id},{v.media_path},{v.info_path},{v.subtitle_path}" for v in samples]
    manifest.write_text("\n".join(["video_id,media_path,info_path,subtitle_path", *rows, rows[0], ",,,", ",,,"]))
    out = tmp_path / "out"
    assert curate("--input", str(manifest), "--output", str(out)) == 0
    read = sorted((f["video_id"], f["reason"]) for f in read_failures(out) if f["stage"] == "read")
    assert read == [("", "missing_id"), ("", "missing_id"), (samples[0].video_id, "duplicate_id")]
    counts = json.loads((out / "stats.json").read_text())["counts"]
    assert (counts["videos_in"], counts["videos_kept"], counts["videos_failed"]) == (5, 2, 3)
    assert accounted_rows(out) == 5
    assert "(5 read, 3 dropped)" in (out / "report.md").read_text()


def test_a_rerun_under_other_settings_is_refused(videos, tmp_path):
    """Fault 3: another recipe or other filter options over a finished output are refused with the
    option named, and nothing in the output changes."""
    folder, _ = videos
    out = tmp_path / "out"
    assert curate("--input", str(folder), "--output", str(out)) == 0
    before = (out / "clips.parquet").read_bytes()
    with pytest.raises(SystemExit, match=r"other settings \(.*recipe: 'hdvila' then, 'vidla' now"):
        main(["run", "--recipe", "vidla", "--short-side", "128", "--input", str(folder), "--output", str(out)])
    with pytest.raises(SystemExit, match="filter.min_height: 720 then, 360 now"):
        curate("--input", str(folder), "--output", str(out), "--min-height", "360")
    assert (out / "clips.parquet").read_bytes() == before
    assert curate("--input", str(folder), "--output", str(out), "--shard-max-samples", "5") == 0  # work only


def test_a_fixed_subtitle_is_used_by_a_retry_of_the_failed_videos(videos, tmp_path):
    """Fault 3: a video dropped for a broken subtitle keeps its old decision while the input is said
    to have changed, until the rerun asks to retry the failed videos; then it is written."""
    folder = tmp_path / "videos"
    shutil.copytree(videos[0], folder)
    broken = videos[1][1]
    subtitle = folder / os.path.basename(broken.subtitle_path)
    good = subtitle.read_bytes()
    subtitle.write_text("WEBVTT\n\nthis is not a cue\n")
    out = tmp_path / "out"
    assert curate("--input", str(folder), "--output", str(out)) == 0
    assert [f["video_id"] for f in read_failures(out)] == [broken.video_id]

    subtitle.write_bytes(good)
    with pytest.raises(SystemExit, match="changed content.*--retry-failed"):
        curate("--input", str(folder), "--output", str(out))
    assert curate("--input", str(folder), "--output", str(out), "--retry-failed") == 0
    assert read_failures(out) == []
    assert {k.rsplit("_", 2)[0] for k in clip_keys(out)} >= {broken.video_id}
    counts = json.loads((out / "stats.json").read_text())["counts"]
    assert (counts["videos_in"], counts["videos_kept"], counts["videos_failed"]) == (2, 2, 0)
    assert curate("--input", str(folder), "--output", str(out)) == 0  # the new input is the recorded one


def test_a_second_run_into_the_same_output_is_refused_while_the_first_runs(videos, tmp_path):
    """Fault 5: while one run holds a local output, another stops at once naming it; the first ends
    with every clip, and once it is over the output takes runs again."""
    folder, _ = videos
    out = tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, "-m", "curate", "run", *OPTIONS, "--input", str(folder), "--output", str(out)],
        env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / ".state" / "owner.json").exists():
            assert first.poll() is None, first.stderr.read()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(SystemExit, match=r"being written by another run \(.*\"pid\": %d" % first.pid):
            curate("--input", str(folder), "--output", str(out))
    finally:
        _, stderr = first.communicate(timeout=240)
    assert first.returncode == 0, stderr[-2000:]
    reference = tmp_path / "reference"
    assert curate("--input", str(folder), "--output", str(reference)) == 0
    assert clip_keys(out) == clip_keys(reference)
    assert curate("--input", str(folder), "--output", str(out)) == 0


def test_a_rerun_that_adds_the_video_scale_is_refused(tmp_path):
    """--video-seconds changes which clips a video gets (the "video" scale): it is a recorded setting,
    and a record made before it was one reads as "off"."""
    from curate.config import RunConfig
    from curate.errors import OutputConflictError
    from curate.output.settings import SETTINGS, check_rerun

    manifest = tmp_path / "m.txt"
    manifest.write_text("abcdefghijk\n")
    out = tmp_path / "out"
    plain = RunConfig(recipe="hdvila", input=str(manifest), output=str(out))
    check_rerun(str(out), plain)
    with pytest.raises(OutputConflictError, match="video_seconds: None then, 256.0 now"):
        check_rerun(str(out), RunConfig(recipe="hdvila", input=str(manifest), output=str(out), video_seconds=256.0))
    recorded = json.loads((out / SETTINGS).read_text())
    del recorded["settings"]["video_seconds"]  # as recorded before the option was
    (out / SETTINGS).write_text(json.dumps(recorded))
    check_rerun(str(out), plain)


def test_a_record_from_before_caption_frames_reads_as_exact_frames(tmp_path):
    """--caption-frames moves the captioned frames: a recorded setting. A record made before it was
    one captioned the grid ("exact"), which matters only where a caption model ran."""
    from curate.config import RunConfig
    from curate.errors import OutputConflictError
    from curate.output.settings import SETTINGS, check_rerun

    manifest = tmp_path / "m.txt"
    manifest.write_text("abcdefghijk\n")
    for caption_model, then in ((None, None), ("Salesforce/blip2-opt-2.7b", "exact")):
        out = tmp_path / f"out-{then}"
        cfg = {"recipe": "vidla", "input": str(manifest), "output": str(out)}
        annotate = {"caption_model": caption_model}
        check_rerun(str(out), RunConfig(**cfg, annotate=annotate))
        recorded = json.loads((out / SETTINGS).read_text())
        assert recorded["settings"]["annotate"].pop("caption_frames") == "keyframe"
        (out / SETTINGS).write_text(json.dumps(recorded))  # as recorded before the option was
        if then is None:
            check_rerun(str(out), RunConfig(**cfg, annotate=annotate))
            continue
        with pytest.raises(OutputConflictError, match="caption_frames: 'exact' then, 'keyframe' now"):
            check_rerun(str(out), RunConfig(**cfg, annotate=annotate))
        check_rerun(str(out), RunConfig(**cfg, annotate={**annotate, "caption_frames": "exact"}))


def test_an_input_given_as_a_file_url_is_fingerprinted_like_its_path(tmp_path):
    """A file:// URL is read as its unquoted path (curate.sources.local_path); its fingerprint too."""
    from curate.output.settings import input_fingerprint

    manifest = tmp_path / "my videos" / "m.txt"
    manifest.parent.mkdir()
    manifest.write_text("abcdefghijk\n")
    assert input_fingerprint(manifest.as_uri()) == input_fingerprint(str(manifest))
    assert "%20" in manifest.as_uri()


def test_a_rerun_on_other_hardware_is_accepted(tmp_path):
    """Where the models run (device, dtype, batch sizes, the accelerator hint) changes no output:
    a rerun that moves them is not refused, one that changes a model is."""
    from curate.config import RunConfig
    from curate.errors import OutputConflictError
    from curate.output.settings import check_rerun

    manifest = tmp_path / "m.txt"
    manifest.write_text("abcdefghijk\n")
    cfg = {"recipe": "vidla", "input": str(manifest), "output": str(tmp_path / "out")}
    model = {"caption_model": "Salesforce/blip2-opt-2.7b"}
    check_rerun(cfg["output"], RunConfig(**cfg, annotate={**model, "device": "cpu"}))
    check_rerun(
        cfg["output"],
        RunConfig(
            **cfg,
            annotate={
                **model,
                "device": "cuda",
                "dtype": "bfloat16",
                "caption_batch_size": 64,
                "model_accelerator": "type:nvidia-l4;count:1",
            },
        ),
    )
    with pytest.raises(OutputConflictError, match="caption_model"):
        check_rerun(cfg["output"], RunConfig(**cfg, annotate={"caption_model": "Salesforce/blip2-flan-t5-xl"}))
