"""Cutting clips with ffmpeg: both modes, resolution, checks of the result, hostile file names."""

from __future__ import annotations

import os
import shutil

import pytest

from curate.errors import StageError
from curate.media.cut import (
    ClipRequest,
    CutConfig,
    clip_ffmpeg_args,
    cut_clips,
    cut_video,
    probe_media,
    scaled_size,
)
from curate.output.write import load_staged_video, staging_dir
from schemas import Clip, VideoMeta


def test_scaled_size_keeps_aspect_and_even_sides():
    assert scaled_size(1280, 720, 224) == (398, 224)
    assert scaled_size(720, 1280, 224) == (224, 398)
    assert scaled_size(1281, 721, None) == (1280, 720)
    assert scaled_size(640, 480, 360) == (480, 360)


def test_config_rejects_what_cannot_work():
    with pytest.raises(ValueError, match="copy"):
        CutConfig(mode="copy", short_side=224)
    with pytest.raises(ValueError, match="mode"):
        CutConfig(mode="fast")
    with pytest.raises(ValueError, match="even"):
        CutConfig(short_side=223)


def test_ffmpeg_gets_an_argument_list_with_our_names_only(tmp_path):
    from curate.media.cut import SourceInfo

    args = clip_ffmpeg_args(
        "in; rm -rf /.mp4",
        [ClipRequest("k_short_00000", 1.0, 3.5)],
        str(tmp_path),
        CutConfig(short_side=224),
        SourceInfo(10.0, 1280, 720, True),
    )
    assert isinstance(args, list) and all(isinstance(a, str) for a in args)
    assert "in; rm -rf /.mp4" in args  # one argument, never parsed by a shell
    assert args[-1] == os.path.join(str(tmp_path), "k_short_00000.mp4")
    assert args[args.index("-ss") + 1] == "1.000" and args[args.index("-t") + 1] == "2.500"
    assert "scale=398:224" in args


@pytest.mark.parametrize("mode,short_side", [("reencode", 224), ("reencode", None), ("copy", None)])
def test_cut_clips_in_both_modes(sample_video, tmp_path, mode, short_side):
    spans = [
        ClipRequest("a_short_00000", 0.5, 6.2),
        ClipRequest("a_short_00001", 3.0, 7.7),
        ClipRequest("a_medium_00000", 0.5, 9.0),
    ]
    config = CutConfig(mode=mode, short_side=short_side, clips_per_process=2)
    results = cut_clips(sample_video.media_path, spans, str(tmp_path), config)
    assert [r.key for r in results] == [s.key for s in spans]
    for span, result in zip(spans, results):
        info = probe_media(result.path)
        assert info.has_audio
        assert result.num_bytes == os.path.getsize(result.path) > 0
        if mode == "reencode":
            assert abs(result.duration - (span.end - span.start)) < 0.2  # exact: within a few frames
        else:
            # stream copy starts at the keyframe before the span (the generator's GOP is 2 s)
            assert span.end - span.start - 0.5 <= result.duration <= span.end - span.start + 2.5
        expected = (398, 224) if short_side else (1280, 720)
        assert (result.width, result.height) == expected


def test_a_clip_past_the_end_is_a_failure_and_the_others_are_kept(sample_video, tmp_path):
    spans = [
        ClipRequest("b_short_00000", 1.0, 5.0),
        ClipRequest("b_short_00001", sample_video.duration + 5, sample_video.duration + 20),
    ]
    results = cut_clips(sample_video.media_path, spans, str(tmp_path), CutConfig(short_side=128))
    assert results[0].duration == pytest.approx(4.0, abs=0.2)
    assert isinstance(results[1], StageError) and str(sample_video.media_path) not in results[1].detail
    assert isinstance(results[1], StageError) and results[1].key == "b_short_00001"
    assert results[1].reason == "span_outside_video"
    assert not os.path.exists(tmp_path / "b_short_00001.mp4")


def test_a_broken_source_is_one_error(tmp_path, sample_video):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(open(sample_video.media_path, "rb").read()[:3000])
    with pytest.raises(StageError) as err:
        cut_clips(str(broken), [ClipRequest("c_short_00000", 0, 4)], str(tmp_path / "out"), CutConfig())
    assert err.value.reason in ("unreadable_media", "no_video_frames")
    assert str(broken) in err.value.detail


def test_a_hostile_file_name_is_just_a_file_name(tmp_path, sample_video):
    hostile = tmp_path / "x; touch PWNED $(touch PWNED2) `id`.mp4"
    shutil.copy(sample_video.media_path, hostile)
    results = cut_clips(
        str(hostile), [ClipRequest("d_short_00000", 1, 4)], str(tmp_path / "out"), CutConfig(short_side=128)
    )
    assert results[0].duration == pytest.approx(3.0, abs=0.2)
    assert not any(p.name.startswith("PWNED") for p in tmp_path.iterdir())
    assert not os.path.exists("PWNED") and not os.path.exists("PWNED2")


def _clip(video_id, scale, index, start, end) -> Clip:
    from schemas import clip_key

    return Clip(clip_key(video_id, scale, index), video_id, scale, index, start, end, end - start, "words", (), 1)


def test_cut_video_stages_good_clips_and_reports_bad_ones(tmp_path, sample_video):
    video_id = "../../etc/evil id"
    meta = VideoMeta(video_id, "", media_path=sample_video.media_path, height=720)
    clips = (_clip(video_id, "short", 0, 0.5, 6.0), _clip(video_id, "short", 1, 100.0, 110.0))
    staged = cut_video(meta, clips, str(tmp_path), CutConfig(short_side=128))
    assert [c.key for c in staged.clips] == [clips[0].key]
    assert staged.clips[0].height == 128 and staged.clips[0].width == 228
    assert [(f.video_id, f.stage, f.key) for f in staged.failures] == [(video_id, "cut", clips[1].key)]
    folder = staging_dir(str(tmp_path), video_id)
    assert os.path.realpath(folder).startswith(os.path.realpath(tmp_path))  # never outside the output
    assert load_staged_video(folder) == staged
    assert sorted(os.listdir(folder)) == sorted([f"{clips[0].key}.mp4", "manifest.json"])
    # the temporary cut folder is gone
    assert os.listdir(os.path.join(tmp_path, ".staging")) == [os.path.basename(folder)]
