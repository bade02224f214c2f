"""curate.media.frames: the per-video frame grid, its reuse across clips and scales, decoding, attaching."""

import numpy as np

from curate.media.frames import attach_frame_captions, clip_frame_times, decode_frames, plan_frames, plan_of
from schemas import Clip, clip_key


def make_clip(video_id, scale, index, start, end, subtitle="a few words"):
    return Clip(
        clip_key(video_id, scale, index),
        video_id,
        scale,
        index,
        start,
        end,
        end - start,
        subtitle,
        (),
        len(subtitle.split()),
    )


def test_grid_times_are_cell_middles_inside_the_clip():
    assert clip_frame_times(0, 30, 0.1) == (5.0, 15.0, 25.0)
    assert clip_frame_times(5, 25, 0.1) == (5.0, 15.0)  # start inclusive, end exclusive
    assert clip_frame_times(12, 13.5, 0.1) == (12.75,)  # no grid time inside: the clip's midpoint
    assert clip_frame_times(0, 10, 0.5) == (1.0, 3.0, 5.0, 7.0, 9.0)
    assert clip_frame_times(7, 7, 0.1) == ()
    assert clip_frame_times(9, 3, 0.1) == ()


def test_every_scale_shares_the_video_grid():
    # one 120 s video cut three ways: short 12 s, medium 30 s, long 60 s clips
    clips = [make_clip("v", "short", i, 12 * i, 12 * i + 12) for i in range(10)]
    clips += [make_clip("v", "medium", i, 30 * i, 30 * i + 30) for i in range(4)]
    clips += [make_clip("v", "long", i, 60 * i, 60 * i + 60) for i in range(2)]
    plan = plan_frames(clips, 0.1)
    assert plan.times == tuple(5.0 + 10 * k for k in range(12))  # one frame per 10 s of video
    per_clip = sum(len(ts) for ts in plan.clip_times.values())
    assert per_clip == 36 > 3 * len(plan.times) - 1
    assert all(set(ts) <= set(plan.times) for ts in plan.clip_times.values())


def test_decode_frames_at_times_and_size(sample_video):
    frames = decode_frames(sample_video.media_path, [1.0, 10.0, 3.5], size=(224, 224))
    assert [t for t, _ in frames] == [1.0, 10.0, 3.5]
    for _, frame in frames:
        assert isinstance(frame, np.ndarray) and frame.shape == (224, 224, 3) and frame.dtype == np.uint8
    full = decode_frames(sample_video.media_path, [2.0])[0][1]
    assert full.shape == (720, 1280, 3)
    # the generated shapes move: frames 9 s apart differ
    assert np.abs(frames[0][1].astype(int) - frames[1][1].astype(int)).mean() > 1


def test_decode_frames_reports_errors_per_frame(sample_video, tmp_path):
    past_end = sample_video.duration + 30
    frames = dict(decode_frames(sample_video.media_path, [1.0, past_end], size=(64, 64)))
    assert isinstance(frames[1.0], np.ndarray)
    assert "no frame at" in frames[past_end] and "last frame at" in frames[past_end]
    missing = decode_frames(str(tmp_path / "missing.mp4"), [1.0, 2.0])
    assert [("cannot open" in err) for _, err in missing] == [True, True]
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 1000)
    assert all(isinstance(err, str) for _, err in decode_frames(str(garbage), [1.0]))


def test_truncated_video_keeps_the_frames_before_the_cut(sample_video, tmp_path):
    data = open(sample_video.media_path, "rb").read()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    frames = decode_frames(str(truncated), [1.0, sample_video.duration - 1], size=(32, 32))
    # moov at the end (ffmpeg's default) or at the start: either way nothing raises and the late
    # frame is an error
    assert isinstance(frames[1][1], str)


def test_attach_keeps_captioned_frames_and_drops_clips_without_any():
    clips = [
        make_clip("v", "short", 0, 0, 13),
        make_clip("v", "short", 1, 13, 26),
        make_clip("v", "medium", 0, 0, 30),
        make_clip("v", "short", 2, 40, 40),
    ]
    plan = plan_frames(clips, 0.1)
    captions = {5.0: "a dog on a beach", 15.0: "  ", 25.0: "a red car"}
    errors = {}
    kept, failures = attach_frame_captions("v", clips, plan, captions, errors)
    by_key = {c.key: c for c in kept}
    assert by_key[clips[0].key].frame_captions == ("a dog on a beach",)
    assert by_key[clips[0].key].frame_times == (5.0,)
    assert by_key[clips[1].key].frame_captions == ("a red car",)  # the empty caption at 15 s is left out
    assert by_key[clips[2].key].frame_times == (5.0, 25.0)
    # short clips keep their captions as their text; medium ones wait for the summarizer
    assert by_key[clips[0].key].caption == "a dog on a beach."
    assert by_key[clips[2].key].caption is None
    [failure] = failures
    assert (failure.key, failure.stage, failure.reason) == (clips[3].key, "caption", "no_frames")
    assert "no frame to caption" in failure.detail

    kept, failures = attach_frame_captions("v", clips[:1], plan, {}, {5.0: "frame at 5.000s: broken"})
    assert kept == () and "broken" in failures[0].detail and failures[0].key == clips[0].key


def test_decoding_forward_and_seeking_give_the_same_frames(sample_video):
    dense = dict(decode_frames(sample_video.media_path, [1.0, 1.5, 2.0, 2.5, 9.0], size=(96, 96)))
    for t in (2.5, 9.0):  # 2.5: decoded forward from 2.0; alone: after a seek
        [(_, alone)] = decode_frames(sample_video.media_path, [t], size=(96, 96))
        assert np.array_equal(dense[t], alone)


def test_keyframes_move_each_frame_within_its_cell_and_its_clips():
    clips = [make_clip("v", "short", i, 12 * i, 12 * i + 12) for i in range(5)]
    clips += [
        make_clip("v", "medium", 0, 0, 30),
        make_clip("v", "medium", 1, 30, 60),
        make_clip("v", "short", 9, 61.0, 62.5),
    ]
    keyframes = [0, 2, 4, 6, 8, 10, 12, 14, 16.5, 18, 20, 22, 24, 26, 28, 30, 35.2, 44.9, 50, 58, 61.2, 61.9]
    plan = plan_frames(clips, 0.1, keyframes)
    by_key = {c.key: plan.clip_times[c.key] for c in clips}
    assert by_key[clips[0].key] == (4.0,)  # 5 s: 4 and 6 as near, the earlier wins
    assert by_key[clips[1].key] == (14.0,)  # 15 s: the cell [10, 20) cut to the clip [12, 24)
    assert by_key[clips[2].key] == (24.0, 35.2)  # 25 s: [24, 30), the medium clip ends at 30
    assert by_key[clips[4].key] == (58.0,)  # 55 s: [50, 60); 58 is nearer than 50
    assert by_key[clips[5].key] == (4.0, 14.0, 24.0)  # a frame shared by clips of both scales stays shared
    assert by_key[clips[6].key] == (35.2, 44.9, 58.0)
    assert by_key[clips[7].key] == (61.9,)  # a short clip's midpoint 61.75: its own window, clip-bounded
    assert plan.times == (4.0, 14.0, 24.0, 35.2, 44.9, 58.0, 61.9)
    assert all(clip.start <= t < clip.end for clip in clips for t in by_key[clip.key])
    assert all(isinstance(t, float) for t in plan.times)
    # no keyframe in a cell: the grid time stays; no keyframes at all: the grid
    assert plan_frames(clips[:1], 0.1, [20.0]).times == (5.0,)
    assert plan_frames(clips, 0.1, ()) == plan_frames(clips, 0.1)


def test_attach_reads_the_plan_the_clips_carry():
    clips = [make_clip("v", "short", 0, 0, 13), make_clip("v", "medium", 0, 0, 30)]
    plan = plan_frames(clips, 0.1, [4.0, 14.0, 26.5])
    carried = [c._replace(frame_times=plan.clip_times[c.key]) for c in clips]
    assert plan_of(carried) == plan
    kept, failures = attach_frame_captions("v", carried, plan_of(carried), {4.0: "a dog", 26.5: "a cat"}, {})
    assert failures == [] and [c.frame_times for c in kept] == [(4.0,), (4.0, 26.5)]
