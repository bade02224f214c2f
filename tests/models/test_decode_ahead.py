"""DecodeAhead: the frames of one video after another, decoded in a thread ahead of the consumer
and on across videos, each video's frames equal to decode_frames', every time answered."""

import itertools
import threading
import time

import numpy as np
import pytest

from curate.media import frames
from curate.media.frames import DecodeAhead, decode_frames

SIZE = (64, 64)


def test_frames_of_several_videos_come_in_order_as_decode_frames_gives_them(sample_video, sample_video_bikes):
    videos = {
        "a": (sample_video.media_path, [9.0, 1.0, 3.5, 1.0]),
        "b": (sample_video_bikes.media_path, [2.0, 0.5]),
        "c": (sample_video.media_path, [4.0]),
    }
    done, taken = [], []
    ahead = DecodeAhead(SIZE, depth=2)
    try:
        for key, (path, times) in videos.items():
            ahead.add(key, path, times, done=lambda key=key: done.append(key))
        assert ahead.untaken == 3 + 2 + 1  # distinct times
        for key, t, frame in ahead.take(0):
            taken.append((key, t, frame))
            if t == max(videos[key][1]):  # a video's last frame comes after its `done`
                assert done[-1] == key
    finally:
        ahead.close()
    assert [(key, t) for key, t, _ in taken] == [("a", 1.0), ("a", 3.5), ("a", 9.0), ("b", 0.5), ("b", 2.0), ("c", 4.0)]
    for key, (path, times) in videos.items():
        expected = dict(decode_frames(path, times, SIZE))
        assert all(np.array_equal(frame, expected[t]) for k, t, frame in taken if k == key)
    assert done == ["a", "b", "c"] and ahead.untaken == 0


def test_take_hands_on_until_at_most_ahead_frames_are_left(sample_video):
    ahead = DecodeAhead(SIZE, depth=8)
    try:
        ahead.add("a", sample_video.media_path, [1.0, 2.0, 3.0, 4.0, 5.0])
        first = list(ahead.take(ahead=3))
        assert [t for _, t, _ in first][:2] == [1.0, 2.0] and ahead.untaken <= 3
        rest = list(ahead.take(0))
    finally:
        ahead.close()
    assert [t for _, t, _ in first + rest] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_every_time_of_a_broken_video_gets_its_reason_and_the_next_video_goes_on(sample_video, tmp_path, monkeypatch):
    iter_frames = frames.iter_frames

    def breaks_after_one(media_path, times, size=None):
        if media_path.endswith("breaks.mp4"):
            yield times[0], np.zeros((2, 2, 3), np.uint8)
            raise OSError("disk gone")
        yield from iter_frames(media_path, times, size)

    monkeypatch.setattr(frames, "iter_frames", breaks_after_one)
    done = []
    ahead = DecodeAhead(SIZE, depth=1)
    try:
        ahead.add("missing", str(tmp_path / "missing.mp4"), [1.0, 2.0], done=lambda: done.append("missing"))
        ahead.add("breaks", str(tmp_path / "breaks.mp4"), [1.0, 2.0, 3.0], done=lambda: done.append("breaks"))
        ahead.add("good", sample_video.media_path, [1.0])
        taken = {(key, t): frame for key, t, frame in ahead.take(0)}
    finally:
        ahead.close()
    assert all(taken[("missing", t)].startswith("cannot open") for t in (1.0, 2.0))
    assert isinstance(taken[("breaks", 1.0)], np.ndarray)
    assert (
        taken[("breaks", 2.0)]
        == taken[("breaks", 3.0)]
        == (f"decoding {tmp_path / 'breaks.mp4'} stopped: OSError: disk gone")
    )
    assert isinstance(taken[("good", 1.0)], np.ndarray) and done == ["missing", "breaks"]


def test_the_decoder_runs_at_most_depth_frames_ahead_and_close_stops_it(monkeypatch):
    produced = []

    def endless(media_path, times, size=None):
        for t in times:
            produced.append(t)
            yield t, np.zeros((2, 2, 3), np.uint8)

    monkeypatch.setattr(frames, "iter_frames", endless)
    done = []
    ahead = DecodeAhead(SIZE, depth=3)
    ahead.add("long", "long.mp4", list(range(1000)), done=lambda: done.append("long"))
    ahead.add("never", "never.mp4", [1.0], done=lambda: done.append("never"))
    deadline = time.monotonic() + 30
    while len(produced) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room to run further, were it not bounded
    assert 3 <= len(produced) <= 3 + 2  # the queue's three, one waiting to go in, the next held back
    assert [t for _, t, _ in itertools.islice(ahead.take(0), 3)] == [0, 1, 2]
    ahead.close()  # the consumer stops early: the thread ends, every video's done still runs
    assert not any(t.name == "decode-ahead" and t.is_alive() for t in threading.enumerate())
    assert done == ["long", "never"]
    with pytest.raises(ValueError, match="depth"):
        DecodeAhead(SIZE, depth=0)


def test_videos_planned_ahead_of_the_decoder_are_scanned_once(sample_video, tmp_path, monkeypatch):
    """The decode step plans a video (read_keyframes) well before DecodeAhead decodes it, up to
    FRAMES_AHEAD frames of other videos later: the keyframe scan must still be there by then."""
    import os

    from curate.beam.models import FRAMES_AHEAD
    from curate.media.frames import read_keyframes

    scans, scan = [], frames._scan_keyframes
    monkeypatch.setattr(frames, "_scan_keyframes", lambda *a: scans.append(1) or scan(*a))
    frames._SCANNED.clear()
    paths = []
    for i in range(20):  # videos of their own, as the decode step sees them
        paths.append(str(tmp_path / f"copy{i}.mp4"))
        os.symlink(sample_video.media_path, paths[-1])
    ahead = DecodeAhead(SIZE, depth=2)
    try:
        for path in paths:
            ahead.add(path, path, read_keyframes(path)[:1])
        assert sum(not isinstance(frame, str) for _, _, frame in ahead.take(0)) == len(paths)
    finally:
        ahead.close()
    assert len(scans) == len(paths) and FRAMES_AHEAD < frames._SCANNED_VIDEOS
