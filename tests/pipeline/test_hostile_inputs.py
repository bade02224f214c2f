"""Inputs made to break a run (issue 22), through the real command line: each bad video, row or file
becomes a failure of its own naming what is wrong, every other video is curated, and a rerun over the
same output works."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pyarrow.parquet as pq
import pytest
from factories import read_failures

from curate.__main__ import main
from curate.text.invisible import REPAIR, has_invisible

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = ["--recipe", "hdvila", "--cut-mode", "copy"]


def curate_cli(*args, prefix=(), timeout=300) -> subprocess.CompletedProcess:
    """``python -m curate run`` in a process of its own (``prefix``: a command to run it under), so
    that a run that hangs fails the test at ``timeout`` seconds."""
    return subprocess.run(
        [*prefix, sys.executable, "-m", "curate", "run", *FAST, *args],
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def curate(*args) -> int:
    return main(["run", *FAST, *args])


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
    [failure] = read_failures(out)
    assert (failure["stage"], failure["reason"]) == ("read", "undecodable_name")
    assert "caf\\xe9_video.mp4" in failure["detail"]
    written = (out / "clips.parquet").read_bytes()
    assert curate("--input", str(folder), "--output", str(out)) == 0  # the rerun resumes
    assert (out / "clips.parquet").read_bytes() == written


def test_the_input_folder_as_output_is_refused_up_front(sample_video, tmp_path):
    """Item 9: the run's own files changed the input's fingerprint, so every rerun was refused."""
    folder = tmp_path / "dl"
    shutil.copytree(sample_video.folder, folder)
    before = sorted(os.listdir(folder))
    for output in (folder, tmp_path / "dl" / ".." / "dl"):
        with pytest.raises(SystemExit, match="is the --input folder"):
            curate("--input", str(folder), "--output", str(output))
    assert sorted(os.listdir(folder)) == before


def test_an_output_under_a_file_is_one_error_line(sample_video, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    done = curate_cli("--input", sample_video.folder, "--output", str(a_file / "out"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"error: --output {a_file / 'out'} cannot be made: {a_file} is a file" in done.stderr
    assert a_file.read_text() == "keep me"


def test_an_output_on_a_read_only_file_system_is_one_error_line(sample_video, tmp_path):
    """The output's parent is bind-mounted read-only in a mount namespace of the run's own (unshare)."""
    readonly = tmp_path / "ro"
    readonly.mkdir()
    mount = f'mount --bind {readonly} {readonly} && mount -o remount,bind,ro {readonly} && exec "$@"'
    prefix = ["unshare", "-rm", "sh", "-c", mount, "sh"]
    probe = subprocess.run([*prefix, "touch", str(readonly / "x")], capture_output=True, text=True, check=False)
    if shutil.which("unshare") is None or "Read-only file system" not in probe.stderr:
        pytest.skip(f"no read-only bind mount here (unshare: {probe.stderr.strip()[:200]})")
    done = curate_cli("--input", sample_video.folder, "--output", str(readonly / "out"), prefix=prefix)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"cannot be written: {readonly} is on a read-only file system" in done.stderr


def test_control_and_format_characters_in_cues_never_reach_the_dataset(sample_video, tmp_path):
    """Item 4: NUL, U+202E and U+200B inside cue text reached clips.parquet and the shards' .txt,
    with no repair counted."""
    folder = tmp_path / "dl"
    shutil.copytree(sample_video.folder, folder)
    subtitle = folder / os.path.basename(sample_video.subtitle_path)
    text = subtitle.read_text(encoding="utf-8")
    assert " fisherman<" in text and " boat<" in text
    subtitle.write_text(
        text.replace(" fisherman<", " fish\u200berman\x00<").replace(" boat<", " \u202eboat<"), encoding="utf-8"
    )
    out = tmp_path / "out"
    assert curate("--input", str(folder), "--output", str(out)) == 0
    clips = pq.read_table(out / "clips.parquet").to_pylist()
    texts = [c["subtitle"] for c in clips] + [s["text"] for c in clips for s in c["sentences"]]
    with tarfile.open(next((out / "shards").glob("*.tar"))) as tar:
        texts += [tar.extractfile(m).read().decode("utf-8") for m in tar.getmembers() if m.name.endswith(".txt")]
    assert any("fisherman" in t for t in texts) and any("boat" in t for t in texts)
    assert not [t for t in texts if has_invisible(t)]
    repairs = json.loads((out / "stats.json").read_text())["clips"]["transcript_repairs"]["by_kind"]
    occurrences = text.count(" fisherman<") * 2 + text.count(" boat<")
    assert repairs[REPAIR] == occurrences


def _jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_manifest_paths_that_are_no_regular_files_or_too_large_fail_their_videos_only(sample_video, tmp_path):
    """Item 5: a subtitle_path that is a FIFO hung the run forever, /dev/zero was read until memory ran
    out. Item 7 too: the first row names no media, subtitle or url, and the rows after it still
    bring theirs."""
    fifos = {name: tmp_path / name for name in ("sub.fifo", "info.fifo", "media.fifo")}
    for fifo in fifos.values():
        os.mkfifo(fifo)
    big = tmp_path / "big.en.vtt"
    text = open(sample_video.subtitle_path, encoding="utf-8").read()
    big.write_text(text + "\nNOTE padding\n" + "x" * 20_000 + "\n", encoding="utf-8")
    files = {
        "media_path": sample_video.media_path,
        "info_path": sample_video.info_path,
        "subtitle_path": sample_video.subtitle_path,
    }
    manifest = _jsonl(
        tmp_path / "m.jsonl",
        [
            {"video_id": "first", "info_path": "missing.info.json"},
            {"video_id": "subfifo", **files, "subtitle_path": str(fifos["sub.fifo"])},
            {"video_id": "devzero", **files, "subtitle_path": "/dev/zero"},
            {"video_id": "infofifo", **files, "info_path": str(fifos["info.fifo"])},
            {"video_id": "mediafifo", **files, "media_path": str(fifos["media.fifo"])},
            {"video_id": "toolarge", **files, "subtitle_path": str(big)},
            {"video_id": "good", **files},
        ],
    )
    out = tmp_path / "out"
    done = curate_cli("--input", manifest, "--output", str(out), "--max-subtitle-mb", "0.015", timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert clip_videos(out) == {"good"}
    found = sorted((f["video_id"], f["stage"], f["reason"]) for f in read_failures(out))
    assert found == [
        ("devzero", "transcript", "subtitle_not_a_file"),
        ("first", "probe", "bad_info_json"),
        ("infofifo", "probe", "info_json_not_a_file"),
        ("mediafifo", "probe", "media_not_a_file"),
        ("subfifo", "transcript", "subtitle_not_a_file"),
        ("toolarge", "transcript", "subtitle_too_large"),
    ]
    detail = {f["video_id"]: f["detail"] for f in read_failures(out)}
    assert "is a named pipe (FIFO), not a regular file" in detail["subfifo"]
    assert "/dev/zero is a character device" in detail["devzero"]


def test_an_input_that_is_a_named_pipe_is_refused_unread(tmp_path):
    fifo = tmp_path / "m.csv"
    os.mkfifo(fifo)
    with pytest.raises(SystemExit, match=r"--input .*m.csv is a named pipe \(FIFO\), not a regular file"):
        curate("--input", str(fifo), "--output", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_the_measured_height_decides_what_is_kept_and_indexed(sample_video, sample_video_360p, tmp_path):
    """Item 6: a 640x360 video whose info json says 720 passed --min-height 720 and was indexed with
    source_height=720; a 720p video declaring 1080 was indexed as 1080."""
    from factories import declare_height

    folder = tmp_path / "dl"
    shutil.copytree(sample_video.folder, folder)
    shutil.copytree(sample_video_360p.folder, folder, dirs_exist_ok=True)
    declare_height(folder / os.path.basename(sample_video_360p.info_path), 720)
    declare_height(folder / os.path.basename(sample_video.info_path), 1080)
    out = tmp_path / "out"
    assert curate("--input", str(folder), "--output", str(out), "--min-height", "720") == 0
    rows = pq.read_table(out / "clips.parquet").select(["video_id", "source_height"]).to_pylist()
    assert {(r["video_id"], r["source_height"]) for r in rows} == {(sample_video.video_id, 720)}
    [failure] = read_failures(out)
    assert (failure["video_id"], failure["stage"], failure["reason"]) == (
        sample_video_360p.video_id,
        "filter",
        "below_720p",
    )
    assert "height=360" in failure["detail"]


def _ffmpeg_writing_into(folder) -> list:
    """Live ffmpeg processes whose command line names a path under ``folder``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as f:
                zombie = f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            continue
        if not zombie and os.path.basename(args[0]) == b"ffmpeg" and any(str(folder).encode() in a for a in args):
            found.append(int(entry))
    return found


def _tree(folder) -> dict:
    return {str(p): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the run's ffmpeg in /proc")
def test_sigterm_ends_the_runs_ffmpeg_before_its_lock_is_let_go(sample_video, tmp_path):
    """SIGTERM to the launcher left its ffmpeg child writing into DIR/.staging after the lock was
    released."""
    import fcntl
    import signal
    import time

    from curate.children import kill_descendants

    folder = tmp_path / "dl"
    shutil.copytree(sample_video.folder, folder)
    out = tmp_path / "out"
    slow_cut = ["--cut-mode", "reencode", "--short-side", "0", "--preset", "veryslow"]
    run = subprocess.Popen(
        [sys.executable, "-m", "curate", "run", *FAST, *slow_cut, "--input", str(folder), "--output", str(out)],
        env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _ffmpeg_writing_into(out):
            assert run.poll() is None, run.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no ffmpeg started"
            time.sleep(0.02)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 128 + signal.SIGTERM
    finally:  # whatever failed above, nothing of the run outlives the test
        kill_descendants(run.pid)
        run.kill()
    stderr = run.stderr.read()
    assert "error: stopped by SIGTERM" in stderr and "Traceback" not in stderr
    assert _ffmpeg_writing_into(out) == []
    with open(out / ".lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the run's lock is free
    before = _tree(out)
    time.sleep(1.0)
    assert _tree(out) == before  # nothing of the run writes on
