"""A run whose output is not on the local disk (memfs://, an in-memory Beam filesystem standing in for
gs://): the probe keeps info jsons there, the download reads them from there and downloads to the
worker's disk, and the scratch files are gone once a video is staged."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from factories import hosted_info
from memfs import MemoryFileSystem

from curate import files
from curate.beam.finalize import rebuild
from curate.media.download import DownloadConfig, Downloader, discard_download, download_root
from curate.media.probe import Prober
from curate.output import failures as failures_io
from schemas import VideoMeta, safe_id


@pytest.fixture
def memfs():
    MemoryFileSystem.clear()
    yield MemoryFileSystem.files
    MemoryFileSystem.clear()


def test_probe_keeps_the_info_on_a_remote_filesystem_and_the_download_reads_it(
    fake_youtube, sample_video, memfs, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a path opened as a local file would show up here as ./memfs:/
    url = fake_youtube.add("/direct/clip.mp4", Path(sample_video.media_path))
    cfg = DownloadConfig(output_dir="memfs://run/.downloads", backoff_base_s=0.01, min_height=0)
    probed = Prober(cfg, "memfs://run/.probe")(VideoMeta("clip 1/../x", url))
    assert probed.info_path == f"memfs://run/.probe/{safe_id('clip 1/../x')}.info.json"
    assert json.loads(memfs[probed.info_path][0])["formats"][0]["url"] == url
    hits = fake_youtube.hits["/direct/clip.mp4"]
    assert Prober(cfg, "memfs://run/.probe")(VideoMeta("clip 1/../x", url)) == probed  # read back, not redone
    assert fake_youtube.hits["/direct/clip.mp4"] == hits

    downloaded = Downloader(cfg)(probed)
    root = download_root(cfg)
    assert root.is_absolute() and Path(downloaded.media_path).parent.parent == root / "videos"
    assert Path(downloaded.media_path).read_bytes() == Path(sample_video.media_path).read_bytes()
    assert discard_download(downloaded.video_id, cfg)
    assert not Path(downloaded.media_path).parent.exists()
    assert not (tmp_path / "memfs:").exists()
    assert set(memfs) == {probed.info_path}  # yt-dlp wrote nothing to the remote side


def test_download_reads_an_info_json_reachable_only_through_filesystems(fake_youtube, sample_video, memfs, tmp_path):
    local_info = hosted_info(fake_youtube, sample_video, tmp_path / "hosted", video_id="remote1")
    remote_info = "memfs://probe/remote1.info.json"
    files.write_bytes_atomic(remote_info, Path(local_info).read_bytes())
    cfg = DownloadConfig(output_dir=str(tmp_path / "out"), backoff_base_s=0.01)
    downloaded = Downloader(cfg)(VideoMeta("remote1", "", info_path=remote_info))
    assert Path(downloaded.media_path).parent == tmp_path / "out" / "videos" / "remote1"
    assert Path(downloaded.subtitle_path).read_bytes() == Path(sample_video.subtitle_path).read_bytes()
    assert downloaded.has_audio and downloaded.height == 720


def test_discard_download_never_deletes_input_files(sample_video, tmp_path):
    cfg = DownloadConfig(output_dir=str(tmp_path / "out"))
    meta = VideoMeta(sample_video.video_id, "", media_path=sample_video.media_path)
    assert Downloader(cfg)(meta).media_path == sample_video.media_path  # a yt-dlp folder: used in place
    assert not discard_download(meta.video_id, cfg)
    assert os.path.isfile(sample_video.media_path)


def test_hdvila_recipe_end_to_end_with_a_remote_output(fake_youtube, sample_video, memfs, tmp_path, monkeypatch):
    """The recipe through probe (info jsons in DIR/.probe on memfs), download (to the worker's disk), transcript,
    plan, cut, staging and shards, everything written through Beam's FileSystems; then a rerun resumes."""
    from curate.beam.recipe import run_recipe
    from curate.config import RunConfig
    from dags import hdvila
    from samplemedia import make_sample_video

    monkeypatch.chdir(tmp_path)
    out = "memfs://e2e"
    # no subtitles and, once downloaded, no audio: fails in ASR after its download (before any model
    # is loaded: the default model is never fetched)
    silent = make_sample_video(
        tmp_path / "silent",
        "silent",
        ["Nobody expected it."],
        audio=False,
        main_subtitle="none",
        min_duration=11,
        fps=2,
    )
    rows = []
    for video_id, sample in (("vid_a", sample_video), ("vid b;$(x)", sample_video), ("silent", silent)):
        # the probe's saved info (as an earlier probe left it in DIR/.probe): read back, not extracted
        local_info = hosted_info(fake_youtube, sample, tmp_path / "hosted", video_id=video_id, epoch=int(time.time()))
        rows.append({"video_id": video_id, "url": json.loads(Path(local_info).read_text())["webpage_url"]})
        files.write_bytes_atomic(f"{out}/.probe/{safe_id(video_id)}.info.json", Path(local_info).read_bytes())
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = RunConfig(
        recipe="hdvila",
        input=str(manifest),
        output=out,
        cut=hdvila.RECIPE.cut,
        use_given_spans=hdvila.RECIPE.use_given_spans,
        download=DownloadConfig(output_dir=files.join(out, ".downloads"), backoff_base_s=0.01),
    )
    shutil.rmtree(download_root(cfg.download), ignore_errors=True)  # what a crashed earlier test left
    run_recipe(hdvila.build, cfg, [])

    stats = json.loads(files.read_bytes(files.join(out, "stats.json")))
    assert stats["counts"]["videos_kept"] == 2 and stats["num_clips"] > 0, stats
    failures = failures_io.read_failures_jsonl(files.join(out, "failures.jsonl"))
    assert [(f.video_id, f.stage, f.reason) for f in failures] == [("silent", "asr", "no_audio")]
    table = pq.read_table(io.BytesIO(files.read_bytes(files.join(out, "clips.parquet"))))
    assert sorted(set(table.column("video_id").to_pylist())) == ["vid b;$(x)", "vid_a"]
    tars = [p for p in memfs if p.startswith(f"{out}/shards/") and p.endswith(".tar")]
    members = []
    for path in tars:
        with tarfile.open(fileobj=io.BytesIO(memfs[path][0])) as tar:
            members += tar.getnames()
    assert sorted(members) == sorted(
        f"{k}.{e}" for k in table.column("key").to_pylist() for e in ("mp4", "json", "txt")
    )
    assert not [p for p in memfs if p.startswith(f"{out}/.staging/")]
    # scratch: every download folder is gone (staged or failed), nothing went to a local "memfs:" path
    videos = download_root(cfg.download) / "videos"
    assert not videos.exists() or not os.listdir(videos)
    assert not (tmp_path / "memfs:").exists()

    before = {p: v for p, v in memfs.items() if p.startswith(f"{out}/shards/")}
    run_recipe(hdvila.build, cfg, [])  # resume: every video is done, nothing is redone
    assert {p: v for p, v in memfs.items() if p.startswith(f"{out}/shards/")} == before
    assert json.loads(files.read_bytes(files.join(out, "stats.json")))["num_clips"] == stats["num_clips"]


def test_a_second_run_into_a_remote_output_is_detected_before_the_outputs_are_written(memfs, tmp_path):
    """issue 9, fault 5: an object store has no lock; a run that another run claimed the output from
    fails its last step instead of publishing outputs mixed from both."""
    from curate.errors import OutputConflictError
    from curate.output.lock import lock_output

    out = "memfs://bucket/out"
    first, second = failures_io.new_run_id(), failures_io.new_run_id()
    with lock_output(out, first):
        with lock_output(out, second):  # no lock on an object store: both get in
            pass
    with pytest.raises(OutputConflictError, match=f"while run {first} was running"):
        rebuild(out, videos_in=0, run_id=first)
    assert not files.exists(files.join(out, "clips.parquet"))
    assert rebuild(out, videos_in=0, run_id=second)["num_clips"] == 0


def test_a_changed_remote_manifest_has_another_fingerprint(memfs):
    """issue 9, fault 3: a manifest on an object store is fingerprinted by its metadata (not read)."""
    from curate.output.settings import input_fingerprint

    path = "memfs://bucket/videos.csv"
    files.write_bytes_atomic(path, b"video_id\nabc\n")
    first = input_fingerprint(path)
    assert input_fingerprint(path) == first
    files.write_bytes_atomic(path, b"video_id\nabc\ndef\n")
    assert input_fingerprint(path) != first
    with pytest.raises(FileNotFoundError):
        input_fingerprint("memfs://bucket/missing.csv")
