"""Download stage: retries on injected faults, validation of what arrives, safe paths, and a Beam
pipeline over a mix of good and bad inputs (all against tests/factories/youtube.py on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from factories import hosted_info

from curate.beam.videos import DownloadVideos, FilterVideos, ProbeVideos, ReadSources
from curate.errors import StageError
from curate.media.download import (
    DownloadConfig,
    Downloader,
    backoff_delay,
    classify_error,
    download_video,
    inside,
    validate_media,
    video_dir,
)
from curate.media.filter import FilterConfig
from schemas import VideoMeta


def _config(tmp_path, **kw) -> DownloadConfig:
    kw.setdefault("retries", 3)
    kw.setdefault("backoff_base_s", 0.5)
    kw.setdefault("socket_timeout_s", 5.0)
    return DownloadConfig(output_dir=str(tmp_path / "out"), **kw)


class Sleeps(list):
    """Records the waits instead of waiting."""

    def __call__(self, seconds):
        self.append(seconds)


def _hosted_meta(server, sample, tmp_path, **kw) -> VideoMeta:
    video_id = kw.pop("video_id", sample.video_id)
    info = hosted_info(server, sample, tmp_path / "infos", video_id=video_id, **kw)
    return VideoMeta(video_id, "", info_path=info)


def _files_under(root: Path) -> set:
    return {str(p) for p in root.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------------
# pure parts


def test_backoff_doubles_with_jitter_and_respects_cap_and_retry_after():
    cfg = DownloadConfig(output_dir="x", backoff_base_s=1.0, backoff_max_s=10.0, jitter=0.5)
    rng = random.Random(0)
    for attempt, full in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 10.0)]:
        delays = [backoff_delay(attempt, cfg, rng) for _ in range(50)]
        assert all(full * 0.5 <= d <= full for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff_delay(0, cfg, rng, retry_after=7.0) == 7.0
    assert backoff_delay(0, cfg, rng, retry_after=70.0) == 10.0


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "ERROR: [youtube] abc: Video unavailable. This video has been removed by the uploader",
            ("unavailable", False),
        ),
        ("ERROR: [youtube] abc: Private video. Sign in if you've been granted access", ("unavailable", False)),
        ("ERROR: [youtube] abc: Sign in to confirm you're not a bot", ("bot_check", False)),
        ("ERROR: unable to download video data: HTTP Error 503: Service Unavailable", ("http_503", True)),
        ("ERROR: unable to download video data: HTTP Error 404: Not Found", ("http_404", False)),
        ("ERROR: unable to download video data: The read operation timed out", ("timeout", True)),
        ("ERROR: Did not get any data blocks; content too short (100 < 200)", ("connection_cut", True)),
        ("ERROR: something else entirely", ("download_error", False)),
    ],
)
def test_classify_error_from_ytdlp_text(text, expected):
    assert classify_error(Exception(text)) == expected


def test_paths_never_leave_the_output_directory(tmp_path):
    cfg = _config(tmp_path)
    hostile_ids = ["../../etc/passwd", "..", "/abs/path", "a/../../b", "$(touch pwned)", "x; rm -rf ~", "-rf"]
    for hostile in hostile_ids:
        folder = video_dir(cfg, hostile)
        assert folder.parent == (tmp_path / "out" / "videos").resolve()
        assert folder.name.replace("_", "").replace("-", "").isalnum()
    (tmp_path / "out").mkdir()
    os.symlink("/", tmp_path / "out" / "escape")
    with pytest.raises(StageError, match="unsafe_path"):
        inside(tmp_path / "out" / "escape" / "etc", tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# validation of media files


def test_validate_media_accepts_a_whole_video_and_measures_it(sample_video):
    measured = validate_media(sample_video.media_path)
    assert measured.duration == pytest.approx(sample_video.duration, abs=0.1)
    assert (measured.width, measured.height, measured.has_audio) == (1280, 720, True)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda data: b"", "zero_length"),
        (lambda data: data[: len(data) * 2 // 3], "truncated_video"),
        (lambda data: bytes(random.Random(1).randrange(256) for _ in range(20000)), "unreadable_media"),
    ],
)
def test_validate_media_rejects_damaged_files(sample_video, tmp_path, damage, reason):
    path = tmp_path / "damaged.mp4"
    path.write_bytes(damage(Path(sample_video.media_path).read_bytes()))
    with pytest.raises(StageError) as err:
        validate_media(str(path))
    assert err.value.reason == reason


# ---------------------------------------------------------------------------------------------
# retries against the fake server


@pytest.mark.parametrize("faults", [(429, 429), (403,), (503, 500), ("truncate",)])
def test_transient_faults_are_retried_then_succeed(fake_youtube, sample_video, tmp_path, faults):
    meta = _hosted_meta(fake_youtube, sample_video, tmp_path)
    fake_youtube.fail("/0/video.mp4", *faults)
    sleeps = Sleeps()
    out = Downloader(_config(tmp_path), sleep=sleeps, rng=random.Random(0))(meta)
    assert len(sleeps) == len(faults) and sleeps == sorted(sleeps)  # backoff grows
    assert fake_youtube.hits["/0/video.mp4"] >= len(faults) + 1
    assert Path(out.media_path).read_bytes() == Path(sample_video.media_path).read_bytes()
    assert Path(out.subtitle_path).read_text() == Path(sample_video.subtitle_path).read_text()
    assert json.loads(Path(out.info_path).read_text())["id"] == sample_video.video_id
    assert out.has_audio is True and out.media_path.startswith(str(tmp_path / "out" / "videos"))


def test_timeouts_are_retried(fake_youtube, sample_video, tmp_path):
    meta = _hosted_meta(fake_youtube, sample_video, tmp_path)
    fake_youtube.fail("/0/video.mp4", "slow")  # the server sleeps 2 s, the client waits 0.5 s
    sleeps = Sleeps()
    out = Downloader(_config(tmp_path, socket_timeout_s=0.5), sleep=sleeps)(meta)
    assert len(sleeps) == 1 and os.path.getsize(out.media_path) > 0


def test_exhausted_retries_keep_the_ytdlp_error_text(fake_youtube, sample_video, tmp_path):
    meta = _hosted_meta(fake_youtube, sample_video, tmp_path)
    fake_youtube.fail("/0/video.mp4", *[429] * 10)
    sleeps = Sleeps()
    with pytest.raises(StageError) as err:
        Downloader(_config(tmp_path, retries=2), sleep=sleeps)(meta)
    assert err.value.reason == "http_429" and err.value.video_id == sample_video.video_id
    assert "HTTP Error 429: Too Many Requests" in err.value.detail and "3 attempts" in err.value.detail
    assert len(sleeps) == 2 and fake_youtube.hits["/0/video.mp4"] == 3


def test_permanent_errors_are_not_retried(fake_youtube, sample_video, tmp_path):
    meta = _hosted_meta(fake_youtube, sample_video, tmp_path)
    fake_youtube.fail("/0/video.mp4", 404)
    sleeps = Sleeps()
    with pytest.raises(StageError) as err:
        Downloader(_config(tmp_path), sleep=sleeps)(meta)
    assert err.value.reason == "http_404" and "HTTP Error 404" in err.value.detail
    assert sleeps == [] and fake_youtube.hits["/0/video.mp4"] == 1


@pytest.mark.parametrize("cut, reason", [(0.0, "zero_length"), (0.6, "truncated_video")])
def test_damaged_downloads_are_failures(fake_youtube, sample_video, tmp_path, cut, reason):
    data = Path(sample_video.media_path).read_bytes()
    meta = _hosted_meta(fake_youtube, sample_video, tmp_path, media_bytes=data[: int(len(data) * cut)])
    with pytest.raises(StageError) as err:
        download_video(meta, _config(tmp_path, retries=0))
    assert err.value.reason == reason and err.value.video_id == sample_video.video_id
    assert not list((tmp_path / "out").rglob("*.mp4"))  # nothing broken is left to pass for done


def test_format_selection_prefers_720p_video_merged_with_audio(fake_youtube, sample_video, tmp_path):
    video_only, audio_only = tmp_path / "v.mp4", tmp_path / "a.m4a"
    for args, out in ((["-an"], video_only), (["-vn"], audio_only)):
        subprocess.run(
            ["ffmpeg", "-v", "error", "-i", sample_video.media_path, *args, "-c", "copy", str(out)], check=True
        )
    formats = [
        {
            "format_id": "140",
            "ext": "m4a",
            "vcodec": "none",
            "acodec": "mp4a.40.2",
            "abr": 48,
            "url": fake_youtube.add("/f/140.m4a", audio_only),
        }
    ]
    for fid, height in (("135", 480), ("136", 720), ("137", 1080)):
        formats.append(
            {
                "format_id": fid,
                "ext": "mp4",
                "height": height,
                "width": height * 16 // 9,
                "fps": 12,
                "vcodec": "avc1.64001f",
                "acodec": "none",
                "url": fake_youtube.add(f"/f/{fid}.mp4", video_only),
            }
        )
    meta = _hosted_meta(fake_youtube, sample_video, tmp_path, formats=formats)
    out = download_video(meta, _config(tmp_path))
    fetched = {p for p, n in fake_youtube.hits.items() if p.startswith("/f/") and n}
    assert fetched == {"/f/136.mp4", "/f/140.m4a"}
    assert out.media_path.endswith(".mp4") and out.has_audio
    assert validate_media(out.media_path).height == 720
    big = download_video(meta._replace(video_id="big"), _config(tmp_path, target_height=1080))
    assert fake_youtube.hits["/f/137.mp4"] == 1 and big.has_audio


def test_stale_info_is_extracted_again_from_its_page(fake_youtube, sample_video, tmp_path):
    page = fake_youtube.add("/fresh/video.mp4", Path(sample_video.media_path))
    meta = _hosted_meta(fake_youtube, sample_video, tmp_path, epoch=1_000_000_000, webpage_url=page)
    expired = "/" + json.loads(Path(meta.info_path).read_text())["formats"][0]["url"].split("/", 3)[3]
    fake_youtube.fail(expired, *[403] * 5)
    out = download_video(meta, _config(tmp_path, min_height=0))
    assert fake_youtube.hits[expired] == 0 and fake_youtube.hits["/fresh/video.mp4"] >= 1
    assert Path(out.media_path).read_bytes() == Path(sample_video.media_path).read_bytes()


def test_rate_limit_spaces_downloads(fake_youtube, sample_video, tmp_path):
    now = [100.0]
    sleeps = Sleeps()
    downloader = Downloader(_config(tmp_path, min_interval_s=30.0), sleep=sleeps, clock=lambda: now[0])
    paths = []
    for n in range(2):  # one YoutubeDL for both, each video into its own folder
        meta = _hosted_meta(fake_youtube, sample_video, tmp_path, video_id=f"v{n}")
        paths.append(downloader(meta).media_path)
        now[0] += 5.0
    assert sleeps == [pytest.approx(25.0)]
    assert [Path(p).parent.name for p in paths] == ["v0", "v1"]


def test_existing_files_are_not_downloaded_again(fake_youtube, sample_video, tmp_path):
    # a yt-dlp folder input: media_path set, nothing to fetch
    folder_meta = VideoMeta(
        sample_video.video_id,
        "",
        media_path=sample_video.media_path,
        subtitle_path=sample_video.subtitle_path,
        info_path=sample_video.info_path,
    )
    assert download_video(folder_meta, _config(tmp_path)).media_path == sample_video.media_path
    # a resumed run: the first run's download is reused
    meta = _hosted_meta(fake_youtube, sample_video, tmp_path)
    first = download_video(meta, _config(tmp_path))
    hits = sum(fake_youtube.hits.values())
    again = download_video(meta, _config(tmp_path))
    assert again == first and sum(fake_youtube.hits.values()) == hits
    # damaged since the first run: downloaded again
    data = Path(first.media_path).read_bytes()
    Path(first.media_path).write_bytes(data[: len(data) // 3])
    repaired = download_video(meta, _config(tmp_path))
    assert Path(repaired.media_path).read_bytes() == data and fake_youtube.hits["/0/video.mp4"] == 2


def test_hostile_ids_and_urls_stay_inside_the_output_and_reach_no_shell(
    fake_youtube, sample_video, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    before = _files_under(tmp_path)
    hostile = ["../../escaped", "$(touch pwned)", "`touch pwned`; rm -rf ~ #", "a/../../../b", "-o /tmp/x"]
    outputs = []
    for video_id in hostile:
        # the format URL carries shell syntax too (yt-dlp requests it as a URL, nothing more)
        meta = _hosted_meta(fake_youtube, sample_video, tmp_path, video_id=video_id)
        info = json.loads(Path(meta.info_path).read_text())
        info["formats"][0]["url"] += "?x=$(touch%20pwned);touch%20pwned"
        Path(meta.info_path).write_text(json.dumps(info))
        outputs.append(download_video(meta, _config(tmp_path)))
    out_root = (tmp_path / "out" / "videos").resolve()
    new_files = _files_under(tmp_path) - before - {o for o in _files_under(tmp_path / "infos")}
    assert new_files and all(Path(f).resolve().parent.parent == out_root for f in new_files)
    assert len({Path(o.media_path).parent for o in outputs}) == len(hostile)
    assert not any("pwned" in str(p) for p in Path("/").glob("*")) and not (tmp_path / "pwned").exists()
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()


# ---------------------------------------------------------------------------------------------
# runs that share one download folder

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# another run, in a process of its own: downloads a video, says where, and discards it when told
OTHER_RUN = """
import sys
from curate.media.download import DownloadConfig, Downloader, discard_download
from schemas import VideoMeta
cfg = DownloadConfig(output_dir=sys.argv[1], retries=0)
meta = VideoMeta(sys.argv[2], "", info_path=sys.argv[3])
print(Downloader(cfg)(meta).media_path, flush=True)
sys.stdin.readline()
print(discard_download(meta.video_id, cfg), flush=True)
"""


def test_runs_sharing_a_download_folder_never_delete_what_another_uses(fake_youtube, sample_video, tmp_path):
    """Attack: two runs into different outputs with one --download-dir; the first to finish deleted
    the video the other was still cutting (and its rerun took the loss for final)."""
    from curate.media.download import discard_download

    meta = _hosted_meta(fake_youtube, sample_video, tmp_path)
    cfg = _config(tmp_path, retries=0)
    mine = Downloader(cfg)(meta)
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_RUN, cfg.output_dir, meta.video_id, meta.info_path],
        env=dict(os.environ, PYTHONPATH=REPO),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        theirs = other.stdout.readline().strip()
        assert theirs == mine.media_path, other.stderr.read()
        assert fake_youtube.hits["/0/video.mp4"] == 1  # published whole by the first run: reused
        assert discard_download(meta.video_id, cfg) is False  # the other run still uses it
        assert validate_media(theirs).height == 720
        other.stdin.write("done\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "True"  # the last run done with it deletes it
    finally:
        other.kill()
        other.wait(timeout=30)
    videos = tmp_path / "out" / "videos"
    assert not videos.exists() or os.listdir(videos) == []  # no lock file, no staging folder left
    again = Downloader(cfg)(meta)  # and a rerun downloads it again
    assert validate_media(again.media_path).height == 720 and fake_youtube.hits["/0/video.mp4"] == 2


def test_a_download_is_published_whole_and_once(tmp_path):
    from curate.media import sharing

    folder = tmp_path / "videos" / "vid"
    first, second = tmp_path / "videos" / ".vid.1.part", tmp_path / "videos" / ".vid.2.part"
    for staging, text in ((first, "first"), (second, "second")):
        staging.mkdir(parents=True)
        (staging / "vid.mp4").write_text(text)
    assert sharing.publish(first, folder) and not first.exists()
    assert not sharing.publish(second, folder) and (folder / "vid.mp4").read_text() == "first"
    assert sharing.staging_folder(folder).parent == folder.parent
    assert sharing.staging_folder(folder).name.startswith(".vid.")


# ---------------------------------------------------------------------------------------------
# the front half as one Beam pipeline: good inputs come through, every bad one is a Failure


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory):
    from samplemedia import make_sample_video

    return make_sample_video(
        tmp_path_factory.mktemp("silent"),
        "silentvid01",
        ["Nobody expected it."],
        audio=False,
        main_subtitle="manual_vtt",
        min_duration=12.0,
    )


def test_mixed_inputs_in_one_pipeline(fake_youtube, sample_video, silent_video, tmp_path):
    data = Path(sample_video.media_path).read_bytes()
    infos = tmp_path / "infos"
    fake_youtube.slow_seconds = 1.0
    rows = []

    def host(video_id, sample=sample_video, faults=(), **kw):
        path = hosted_info(fake_youtube, sample, infos, video_id=video_id, **kw)
        media_path = "/" + json.loads(Path(path).read_text())["formats"][0]["url"].split("/", 3)[3]
        fake_youtube.fail(media_path, *faults)
        rows.append({"video_id": video_id, "info_path": path})

    host("good1")
    host("flaky429", faults=(429, 429))
    host("slow1", faults=("slow",))
    host("$(touch pwned); ../x", faults=(403,))
    host("silent_with_subs", sample=silent_video)
    host("gone404", faults=(404,))
    host("always429", faults=(429,) * 10)
    host("truncated", media_bytes=data[: len(data) // 2])
    host("empty", media_bytes=b"")
    host(
        "lowres",
        formats=[
            {
                "format_id": "18",
                "ext": "mp4",
                "height": 360,
                "width": 640,
                "vcodec": "avc1",
                "acodec": "mp4a",
                "url": fake_youtube.base_url + "/none.mp4",
            }
        ],
        height=360,
    )
    host("german", language=None, automatic_captions={}, subtitles={"de": [{"ext": "vtt", "url": "x"}]})
    rows.append({"video_id": "good1", "info_path": rows[0]["info_path"]})  # a repeat
    rows.append({"video_id": "", "url": ""})  # no id at all
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{not json\n")

    cfg = DownloadConfig(output_dir=str(tmp_path / "out"), retries=2, backoff_base_s=0.01, socket_timeout_s=0.4)
    with BeamTestPipeline() as p:
        videos, read_failures = p | ReadSources(str(manifest))
        probed, probe_failures = videos | ProbeVideos(cfg, str(tmp_path / "probe"))
        kept, filter_failures = probed | FilterVideos(FilterConfig())
        downloaded, download_failures = kept | DownloadVideos(cfg)
        failures = (read_failures, probe_failures, filter_failures, download_failures) | beam.Flatten()
        assert_that(
            downloaded | "Ids" >> beam.Map(lambda m: (m.video_id, os.path.isfile(m.media_path), m.has_audio)),
            equal_to(
                [
                    ("good1", True, True),
                    ("flaky429", True, True),
                    ("slow1", True, True),
                    ("$(touch pwned); ../x", True, True),
                    ("silent_with_subs", True, False),
                ]
            ),
            label="good",
        )
        assert_that(
            failures | "Reasons" >> beam.Map(lambda f: (f.video_id, f.stage, f.reason)),
            equal_to(
                [
                    ("gone404", "download", "http_404"),
                    ("always429", "download", "http_429"),
                    ("truncated", "download", "truncated_video"),
                    ("empty", "download", "zero_length"),
                    ("lowres", "filter", "below_720p"),
                    ("german", "filter", "language_not_wanted"),
                    ("good1", "read", "duplicate_id"),
                    ("", "read", "missing_id"),
                    ("", "read", "bad_row"),
                ]
            ),
            label="failures",
        )
        assert_that(
            download_failures
            | "Texts" >> beam.Map(lambda f: "HTTP Error" in f.detail or f.reason in ("truncated_video", "zero_length")),
            equal_to([True] * 4),
            label="texts",
        )
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
