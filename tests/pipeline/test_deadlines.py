"""A stalled download (a server that trickles a byte a second, below any socket timeout) is killed at
its deadline and recorded as the video's failure; the run ends and the good videos are clipped."""

from __future__ import annotations

import csv
import json
import time

import pyarrow.parquet as pq
import pytest
from factories import FakeYouTube, hosted_info

from curate.__main__ import main
from curate.errors import StageError
from curate.media.deadline import DeadlineExceeded, call_with_deadline
from curate.media.download import DownloadConfig, Downloader, RateWatch
from schemas import VideoMeta


def test_call_with_deadline_returns_raises_and_kills():
    assert call_with_deadline(divmod, (7, 2), 30) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(divmod, (1, 0), 30)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(time.sleep, (60,), 1.0)
    assert time.monotonic() - started < 15


def test_a_trickling_server_fails_the_download_at_its_deadline(sample_video, tmp_path):
    with FakeYouTube(trickle_seconds=0.5) as server:
        info = hosted_info(server, sample_video, tmp_path / "infos")
        server.fail("/0/video.mp4", "trickle")
        cfg = DownloadConfig(output_dir=str(tmp_path / "out"), socket_timeout_s=5.0, deadline_s=4.0)
        started = time.monotonic()
        with pytest.raises(StageError) as err:
            Downloader(cfg)(VideoMeta(sample_video.video_id, "", info_path=info))
    assert time.monotonic() - started < 20
    assert err.value.reason == "deadline" and "deadline_s=4" in err.value.detail
    assert not (tmp_path / "out" / "videos" / sample_video.video_id).exists()  # no partial file left


def test_the_run_ends_with_the_stalled_video_failed_and_the_good_one_clipped(sample_video, tmp_path):
    with FakeYouTube(trickle_seconds=0.5) as server:
        stalled = hosted_info(server, sample_video, tmp_path / "infos", video_id="stalled")
        good = hosted_info(server, sample_video, tmp_path / "infos", video_id="good")
        server.fail("/0/video.mp4", *["trickle"] * 10)
        manifest = tmp_path / "m.csv"
        with open(manifest, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["video_id", "info_path"])
            writer.writerows([["stalled", stalled], ["good", good]])
        out = tmp_path / "out"
        started = time.monotonic()
        assert (
            main(
                [
                    "run",
                    "--recipe",
                    "hdvila",
                    "--input",
                    str(manifest),
                    "--output",
                    str(out),
                    "--cut-mode",
                    "copy",
                    "--download-deadline",
                    "5",
                    "--retries",
                    "0",
                ]
            )
            == 0
        )
        assert time.monotonic() - started < 120
    clips = pq.read_table(out / "clips.parquet").to_pylist()
    assert {c["video_id"] for c in clips} == {"good"}
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [(f["video_id"], f["stage"], f["reason"]) for f in failures] == [("stalled", "download", "deadline")]


def test_retries_stop_at_the_deadline_with_its_reason(sample_video, tmp_path):
    with FakeYouTube() as server:
        info = hosted_info(server, sample_video, tmp_path / "infos")
        server.fail("/0/video.mp4", *[429] * 20)
        cfg = DownloadConfig(
            output_dir=str(tmp_path / "out"), retries=10, backoff_base_s=1.0, jitter=0.0, deadline_s=2.0
        )
        with pytest.raises(StageError) as err:
            Downloader(cfg)(VideoMeta(sample_video.video_id, "", info_path=info))
    assert err.value.reason == "deadline" and "out of time after earlier attempts" in err.value.detail
    assert 2 <= server.hits["/0/video.mp4"] < 10


def test_ytdlp_options_that_cannot_reach_the_download_process_are_refused(tmp_path):
    with pytest.raises(ValueError, match="extra_ytdlp_options must be picklable"):
        DownloadConfig(output_dir=str(tmp_path), extra_ytdlp_options={"progress_hooks": [lambda d: None]})
    DownloadConfig(output_dir=str(tmp_path), extra_ytdlp_options={"geo_bypass": True})


def test_a_download_below_the_minimum_rate_fails_long_before_its_deadline(sample_video, tmp_path):
    """Attack: a server sending a few bytes a second was caught only by the 1800 s deadline."""
    with FakeYouTube(trickle_seconds=0.2) as server:
        info = hosted_info(server, sample_video, tmp_path / "infos")
        server.fail("/0/video.mp4", "trickle", "trickle")
        cfg = DownloadConfig(
            output_dir=str(tmp_path / "out"),
            socket_timeout_s=5.0,
            deadline_s=120.0,
            retries=1,
            backoff_base_s=0.1,
            min_rate_bytes_per_s=1000,
            rate_window_s=2.0,
        )
        started = time.monotonic()
        with pytest.raises(StageError) as err:
            Downloader(cfg)(VideoMeta(sample_video.video_id, "", info_path=info))
        assert time.monotonic() - started < 30
        assert server.hits["/0/video.mp4"] == 2  # retried once: a new connection may be faster
    assert err.value.reason == "too_slow" and "below the minimum of 1000 B/s" in err.value.detail
    assert "after 2 attempts" in err.value.detail
    assert not list((tmp_path / "out").rglob("*.mp4*"))  # no partial file left


def test_the_rate_watch_measures_over_its_window(tmp_path):
    now = [0.0]
    watch = RateWatch(tmp_path, min_rate=100, window_s=10, clock=lambda: now[0])
    part = tmp_path / "v.mp4.part"
    for second in range(1, 40):
        now[0] = float(second)
        part.write_bytes(b"x" * (150 * second if second < 20 else 150 * 19 + 50 * (second - 19)))
        verdict = watch()
        # 150 B/s, then 50: the mean over the last 10 s falls below 100 B/s after second 24
        assert (verdict is None) == (second <= 24), (second, verdict)
    assert "50 B/s over the last 10 s" in verdict
