"""Probe (one extraction per video, info json saved for the download) and filter (reasons, counters,
the deterministic per-category hour cap)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from curate.beam.videos import CapCategoryHours, FilterVideos
from curate.errors import StageError
from curate.media.download import DownloadConfig, Downloader
from curate.media.filter import FilterConfig, cap_category_hours, check_video
from curate.media.probe import Prober, meta_from_info, probe_video, subtitle_kind, video_language
from schemas import VideoMeta

SUB = [{"ext": "vtt", "url": "http://127.0.0.1/s.vtt"}]


def _info(**kw) -> dict:
    info = {
        "id": "abc",
        "title": "A title",
        "duration": 120.0,
        "categories": ["Education"],
        "language": "en",
        "webpage_url": "https://www.youtube.com/watch?v=abc",
        "formats": [
            {"format_id": "140", "vcodec": "none", "acodec": "mp4a.40.2"},
            {"format_id": "136", "height": 720, "width": 1280, "fps": 30, "vcodec": "avc1", "acodec": "none"},
            {"format_id": "137", "height": 1080, "width": 1920, "fps": 30, "vcodec": "avc1", "acodec": "none"},
            {"format_id": "299", "height": 1080, "width": 1920, "fps": 60, "vcodec": "avc1", "acodec": "none"},
        ],
        "subtitles": {},
        "automatic_captions": {"en": SUB, "en-orig": SUB, "de": SUB},
    }
    info.update(kw)
    return info


def test_meta_from_info_takes_the_best_format_and_the_facts_the_filter_needs():
    meta = meta_from_info(VideoMeta("abc", ""), _info())
    assert (meta.height, meta.width, meta.fps) == (1080, 1920, 60.0)
    assert (meta.duration, meta.category, meta.language, meta.subtitle_kind, meta.has_audio) == (
        120.0,
        "Education",
        "en",
        "auto",
        True,
    )
    assert meta.url == "https://www.youtube.com/watch?v=abc" and meta.title == "A title"
    # a downloaded file is what it is, not the best format on offer
    downloaded = meta_from_info(
        VideoMeta("abc", ""), _info(height=720, width=1280, fps=25, acodec="none"), downloaded=True
    )
    assert (downloaded.height, downloaded.has_audio) == (720, False)
    video_only = [{"height": 720, "vcodec": "avc1", "acodec": "none"}]
    silent = meta_from_info(VideoMeta("abc", ""), _info(formats=video_only))
    assert silent.has_audio is False


@pytest.mark.parametrize(
    "fields, language, kind",
    [
        ({"subtitles": {"en-GB": SUB}}, "en", "manual"),
        ({"subtitles": {"live_chat": SUB}, "automatic_captions": {"en-orig": SUB}, "language": None}, "en", "auto"),
        # YouTube machine-translates automatic captions of a German video into English: not English speech
        ({"language": None, "automatic_captions": {"de-orig": SUB, "de": SUB, "en": SUB}}, "de", ""),
        ({"language": None, "automatic_captions": {}, "subtitles": {"de": SUB, "de-AT": SUB}}, "de", ""),
        ({"language": None, "automatic_captions": {"en": SUB}}, "", "auto"),
        ({"language": "fr", "automatic_captions": {}}, "fr", ""),
    ],
)
def test_language_and_subtitle_kind(fields, language, kind):
    info = _info(**fields)
    assert video_language(info) == language
    assert subtitle_kind(info, language) == kind


def test_probe_reads_a_download_folder_without_network(sample_video, tmp_path):
    meta = VideoMeta(
        sample_video.video_id,
        "",
        media_path=sample_video.media_path,
        subtitle_path=sample_video.subtitle_path,
        info_path=sample_video.info_path,
    )
    out = probe_video(meta, DownloadConfig(output_dir=str(tmp_path)), str(tmp_path / "probe"))
    assert (out.height, out.category, out.subtitle_kind) == (720, "Education", "auto")
    assert out.duration == pytest.approx(sample_video.duration, abs=0.01)
    assert out.info_path == sample_video.info_path and not (tmp_path / "probe").exists()


def test_probe_measures_a_video_without_info_json(sample_video, tmp_path):
    media = tmp_path / "x.mp4"
    shutil.copy(sample_video.media_path, media)
    out = probe_video(
        VideoMeta("x", media.as_uri(), media_path=str(media)),
        DownloadConfig(output_dir=str(tmp_path)),
        str(tmp_path / "probe"),
    )
    assert (out.height, out.width, out.has_audio, out.subtitle_kind) == (720, 1280, True, "")
    assert out.duration == pytest.approx(sample_video.duration, abs=0.1)


def test_probe_extracts_once_saves_the_info_and_the_download_reuses_it(fake_youtube, sample_video, tmp_path):
    url = fake_youtube.add("/direct/clip.mp4", Path(sample_video.media_path))
    fake_youtube.fail("/direct/clip.mp4", 503)  # the probe retries this too
    cfg = DownloadConfig(output_dir=str(tmp_path / "out"), backoff_base_s=0.01, min_height=0)
    sleeps = []
    probed = Prober(cfg, str(tmp_path / "probe"), sleep=sleeps.append)(VideoMeta("clip 1/../x", url))
    assert len(sleeps) == 1
    assert Path(probed.info_path).parent == tmp_path / "probe"
    assert json.loads(Path(probed.info_path).read_text())["formats"][0]["url"] == url
    hits = fake_youtube.hits["/direct/clip.mp4"]
    # a rerun reuses the saved info while its URLs are fresh, and extracts again once they are not
    again = Prober(cfg, str(tmp_path / "probe"))(VideoMeta("clip 1/../x", url))
    assert again == probed and fake_youtube.hits["/direct/clip.mp4"] == hits
    stale = json.loads(Path(probed.info_path).read_text())
    Path(probed.info_path).write_text(json.dumps(dict(stale, epoch=stale["epoch"] - cfg.info_max_age_s - 60)))
    Prober(cfg, str(tmp_path / "probe"))(VideoMeta("clip 1/../x", url))
    assert fake_youtube.hits["/direct/clip.mp4"] > hits
    hits = fake_youtube.hits["/direct/clip.mp4"]
    downloaded = Downloader(cfg)(probed)
    # the download fetched the media once more and extracted nothing again
    assert fake_youtube.hits["/direct/clip.mp4"] == hits + 1
    assert Path(downloaded.media_path).read_bytes() == Path(sample_video.media_path).read_bytes()


def test_probe_failure_keeps_the_ytdlp_text(fake_youtube, tmp_path):
    cfg = DownloadConfig(output_dir=str(tmp_path), retries=1, backoff_base_s=0.0)
    with pytest.raises(StageError) as err:
        Prober(cfg, str(tmp_path))(VideoMeta("nothere", fake_youtube.base_url + "/nothere.mp4"))
    assert err.value.reason == "http_404" and "404" in err.value.detail


# ---------------------------------------------------------------------------------------------
# filter

GOOD = VideoMeta("good", "", duration=60.0, height=720, language="en", subtitle_kind="auto", has_audio=True)


@pytest.mark.parametrize(
    "change, reason",
    [
        ({}, ""),
        ({"height": 1080}, ""),
        ({"subtitle_kind": "", "has_audio": True}, ""),  # ASR will transcribe it
        ({"language": ""}, ""),  # unknown language is not a reason to drop
        ({"duration": None}, "not_probed"),
        ({"duration": 3.0}, "too_short"),
        ({"duration": 4000.0}, "too_long"),
        ({"height": None}, "unknown_resolution"),
        ({"height": 480}, "below_720p"),
        ({"language": "de"}, "language_not_wanted"),
        ({"subtitle_kind": "", "has_audio": False}, "no_english_subtitles_or_audio"),
    ],
)
def test_check_video_reasons(change, reason):
    cfg = FilterConfig(max_duration_s=3600.0)
    assert check_video(GOOD._replace(**change), cfg) == (not reason, reason)


def test_check_video_options():
    assert check_video(GOOD._replace(height=480), FilterConfig(min_height=360)) == (True, "")
    assert check_video(GOOD._replace(language="de"), FilterConfig(languages=())) == (True, "")
    no_subs = GOOD._replace(subtitle_kind="")
    assert check_video(no_subs, FilterConfig(allow_asr=False)) == (False, "no_english_subtitles_or_audio")


def _videos(n: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    return [
        GOOD._replace(video_id=f"v{i:03d}", category=rng.choice(["A", "B", "C"]), duration=rng.uniform(60, 1800))
        for i in range(n)
    ]


def test_category_cap_is_a_deterministic_prefix_by_hash_within_the_cap():
    videos = _videos(200)
    kept, dropped = cap_category_hours(videos, cap_hours=5.0)
    assert len(kept) + len(dropped) == 200 and kept and dropped
    assert {f.reason for f in dropped} == {"category_cap"} and {f.stage for f in dropped} == {"filter"}
    for category in "ABC":
        hours = sum(v.duration for v in kept if v.category == category) / 3600
        assert 4.5 < hours <= 5.0  # filled up to the cap (no video is longer than half an hour)
    shuffled = videos[:]
    random.Random(1).shuffle(shuffled)
    kept2, _ = cap_category_hours(shuffled, cap_hours=5.0)
    assert sorted(kept2) == sorted(kept)
    # a bigger cap keeps a superset: the order of admission does not depend on the cap
    bigger, _ = cap_category_hours(videos, cap_hours=8.0)
    assert {v.video_id for v in kept} < {v.video_id for v in bigger}


def test_cap_in_beam_matches_the_plain_rule_whatever_the_input_order():
    videos = _videos(120, seed=3)
    expected_kept, expected_dropped = cap_category_hours(videos, cap_hours=3.0)
    shuffled = videos[:]
    random.Random(2).shuffle(shuffled)
    with BeamTestPipeline() as p:
        kept, dropped = p | beam.Create(shuffled, reshuffle=True) | CapCategoryHours(3.0)
        assert_that(kept, equal_to(expected_kept), label="kept")
        assert_that(dropped, equal_to(expected_dropped), label="dropped")


def test_filter_videos_emits_every_drop_as_a_failure_and_counts_it():
    videos = [
        GOOD,
        GOOD._replace(video_id="low", height=360),
        GOOD._replace(video_id="short", duration=2.0),
        GOOD._replace(video_id="low2", height=480),
    ]
    videos += [GOOD._replace(video_id=f"long{i}", duration=3000.0, category="Sports") for i in range(3)]
    p = BeamTestPipeline()
    kept, failures = p | beam.Create(videos) | FilterVideos(FilterConfig(category_hour_cap=1.0))
    assert_that(kept | beam.Map(lambda m: m.video_id), equal_to(["good", "long1"]), label="kept")
    assert_that(
        failures | beam.Map(lambda f: (f.video_id, f.stage, f.reason)),
        equal_to(
            [
                ("low", "filter", "below_720p"),
                ("low2", "filter", "below_720p"),
                ("short", "filter", "too_short"),
                ("long0", "filter", "category_cap"),
                ("long2", "filter", "category_cap"),
            ]
        ),
        label="failures",
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("filter"))["counters"]
    }
    assert counters["failed:below_720p"] == 2 and counters["failed:too_short"] == 1
    assert counters["failed:category_cap"] == 2


def test_a_missing_manifest_subtitle_is_a_clear_failure(sample_video, tmp_path):
    cfg = DownloadConfig(output_dir=str(tmp_path / "out"))
    meta = VideoMeta("v", "", media_path=sample_video.media_path, subtitle_path=str(tmp_path / "gone.vtt"))
    with pytest.raises(StageError) as err:
        Prober(cfg, str(tmp_path / "probe"))(meta)
    assert err.value.reason == "subtitle_missing" and "gone.vtt" in err.value.detail


def test_the_measured_stream_decides_the_height_and_a_disagreement_is_counted(sample_video_360p, tmp_path):
    """Attack: a 640x360 video whose info json says 720 passed --min-height 720 and was indexed with
    source_height=720."""
    from factories import declare_height

    from curate.beam.videos import ProbeVideos

    folder = tmp_path / "dl"
    shutil.copytree(sample_video_360p.folder, folder)
    info = folder / Path(sample_video_360p.info_path).name
    declare_height(info, 720)
    meta = VideoMeta("liar", "", media_path=str(folder / Path(sample_video_360p.media_path).name), info_path=str(info))
    prober = Prober(DownloadConfig(output_dir=str(tmp_path / "out")), str(tmp_path / "probe"))
    out = prober(meta)
    assert (out.height, out.width) == (360, 640) and prober.notes == {"height_disagrees": 1}
    assert check_video(out, FilterConfig(min_height=720)) == (False, "below_720p")
    honest = prober(
        VideoMeta("honest", "", media_path=sample_video_360p.media_path, info_path=sample_video_360p.info_path)
    )
    assert honest.height == 360 and prober.notes == {"height_disagrees": 1}
    p = BeamTestPipeline()
    probed, _ = (
        p | beam.Create([meta]) | ProbeVideos(DownloadConfig(output_dir=str(tmp_path / "out")), str(tmp_path / "probe"))
    )
    assert_that(probed | beam.Map(lambda m: m.height), equal_to([360]))
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace("probe"))["counters"]
    }
    assert counters["height_disagrees"] == 1


def test_a_download_below_the_minimum_height_fails_whatever_its_format_declared(
    fake_youtube, sample_video, sample_video_360p, tmp_path
):
    """The server sends a 640x360 file for a format its info json lists as 1280x720."""
    from factories import hosted_info

    small = Path(sample_video_360p.media_path).read_bytes()
    info = hosted_info(fake_youtube, sample_video, tmp_path / "infos", media_bytes=small)
    downloader = Downloader(DownloadConfig(output_dir=str(tmp_path / "out"), min_height=720))
    with pytest.raises(StageError) as err:
        downloader(VideoMeta(sample_video.video_id, "", info_path=info, height=720))
    assert err.value.reason == "below_720p" and "640x360 (declared height: 720)" in err.value.detail
    assert downloader.notes == {"height_disagrees": 1}
    kept = Downloader(DownloadConfig(output_dir=str(tmp_path / "out0"), min_height=0))(
        VideoMeta(sample_video.video_id, "", info_path=info, height=720)
    )
    assert kept.height == 360
