"""Which frames of a video to caption, decoding them, and giving each clip its frames' captions.

Frames are sampled on ONE grid per video, at ``fps`` frames per second: t_k = (k + 1/2) / fps, the
middle of each 1/fps-second cell. A clip takes the grid times inside [start, end); a clip too short to
hold one gets its own midpoint instead. Clips of every scale overlap in time, so they share grid
frames: each time is decoded and captioned once per video, and the number of captioner calls grows
with the video's duration, not with its number of clips (VidLA captions at ~0.1 FPS, section 3).

Plain functions, no Beam. PyAV is imported by iter_frames only.
"""
from __future__ import annotations

import bisect
import math
from typing import NamedTuple, Optional, Sequence

from schemas import Clip, Failure

# Times are rounded to the millisecond so that they are exact dictionary keys everywhere.
_TIME_DECIMALS = 3
# Decode forward instead of seeking when the next frame is at most this far ahead: decoding a couple
# of seconds costs less than going back to a keyframe.
SEEK_AFTER_S = 2.0


class FramePlan(NamedTuple):
    times: tuple  # tuple[float, ...]: the video's distinct frame times, sorted
    clip_times: dict  # clip key -> tuple[float, ...] of that clip's frame times, sorted


def clip_frame_times(start: float, end: float, fps: float) -> tuple:
    """The per-video grid times in [start, end), or the clip's midpoint when none falls inside.
    An empty or reversed span has no frames."""
    if not end > start:
        return ()
    first = max(0, math.ceil(start * fps - 0.5))
    times = []
    k = first
    while (k + 0.5) / fps < end:
        t = round((k + 0.5) / fps, _TIME_DECIMALS)
        if t >= start:
            times.append(t)
        k += 1
    return tuple(times) or (round((start + end) / 2, _TIME_DECIMALS),)


def plan_frames(clips: Sequence[Clip], fps: float) -> FramePlan:
    clip_times = {clip.key: clip_frame_times(clip.start, clip.end, fps) for clip in clips}
    times = sorted({t for ts in clip_times.values() for t in ts})
    return FramePlan(tuple(times), clip_times)


def decode_frames(media_path: str, times: Sequence[float], size: Optional[tuple] = None) -> list:
    """The frame shown at each time (seconds from the start of the video), as an RGB uint8 array
    (H, W, 3), resized to size=(width, height) when given.

    Returns [(t, array or error text)] in the order of ``times``: a frame that cannot be decoded, or
    a time past the end of the video, gives its error text instead of an array; nothing raises.
    """
    results = dict(iter_frames(media_path, times, size))
    return [(t, results[t]) for t in times]


def iter_frames(media_path: str, times: Sequence[float], size: Optional[tuple] = None):
    """decode_frames as a generator: (t, array or error text) for each distinct time, in order of
    time, each as soon as it is decoded. Only the sampled frames are converted: the decoder's own
    scaler (swscale, bicubic) turns each into RGB at `size` straight from the decoded YUV picture."""
    import av

    times = sorted(set(times))
    try:
        container = av.open(media_path)
    except Exception as exc:  # noqa: BLE001 - any open error is the answer for every frame
        yield from ((t, f"cannot open {media_path}: {type(exc).__name__}: {exc}") for t in times)
        return
    with container:
        if not container.streams.video:
            yield from ((t, f"{media_path} has no video stream") for t in times)
            return
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        offset = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        half_frame = 0.5 / rate
        reader = _FrameReader(container, stream, half_frame, size)
        for t in times:
            try:
                frame = reader.frame_at(offset + t)
            except Exception as exc:  # noqa: BLE001 - a broken frame is reported, the others go on
                reader.reset()
                frame = f"frame at {t:.3f}s of {media_path}: {type(exc).__name__}: {exc}"
            yield t, frame


def prefetch(items, depth: int):
    """Iterate `items` in a background thread, at most `depth` ahead of the consumer: the decoder
    (PyAV releases the GIL while it decodes and scales) keeps working while the consumer runs the
    model on frames already decoded. An exception in the producer is raised in the consumer; a
    consumer that stops early stops the producer at its next item."""
    import queue
    import threading

    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    buffer = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        iterator = iter(items)
        try:
            for item in iterator:
                if not put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((done, exc))
            return
        finally:
            getattr(iterator, "close", lambda: None)()  # a generator's files close in this thread
        put((done, None))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = buffer.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _index_entries(stream) -> list:
    """The stream's index (timestamps and keyframe flags of its packets); empty where PyAV or the
    container has none."""
    try:
        return list(stream.index_entries)
    except (AttributeError, NotImplementedError):
        return []


def frame_to_rgb(frame, size: Optional[tuple] = None):
    """A decoded PyAV frame as an RGB uint8 array (H, W, 3), scaled to size=(width, height) when given.

    Scaled bicubic in YUV 4:4:4 first, so that the chroma planes are interpolated at full resolution
    like the luma, then converted to RGB at the small size: this is within about one level of 255 (mean)
    of converting the full picture to RGB and resizing it bicubic with PIL, as BLIP-2's processor
    does, where scaling the 4:2:0 picture straight to RGB is three times further off along colour
    edges (tests/models/test_caption_tensors.py)."""
    if size is None:
        return frame.to_ndarray(format="rgb24")
    small = frame.reformat(format="yuv444p", width=int(size[0]), height=int(size[1]), interpolation="BICUBIC")
    return small.to_ndarray(format="rgb24")


class _FrameReader:
    """Frames at increasing times, decoding as few pictures as the stream allows: forward from the
    previous frame when the next time is near (dense sampling) and no keyframe lies in between, else
    from the keyframe before it (a seek: VidLA's sparse 0.1 FPS, or a new GOP starting before the
    next time). Keyframe times come from the container's index when it has one (MP4 does)."""

    def __init__(self, container, stream, half_frame: float, size: Optional[tuple]):
        self._container = container
        self._stream = stream
        self._half_frame = half_frame
        self._size = size
        self._keyframes = sorted(float(e.timestamp * stream.time_base) for e in _index_entries(stream)
                                 if e.is_keyframe)
        self.reset()

    def reset(self):
        self._frames = None
        self._last_time = None

    def _keyframe_between(self, after: float, upto: float) -> bool:
        i = bisect.bisect_right(self._keyframes, after)
        return i < len(self._keyframes) and self._keyframes[i] <= upto

    def frame_at(self, target: float):
        if (self._frames is None or self._last_time is None or not 0 <= target - self._last_time <= SEEK_AFTER_S
                or self._keyframe_between(self._last_time, target)):
            self._container.seek(max(0, int(target / self._stream.time_base)), stream=self._stream, backward=True)
            self._frames = self._container.decode(self._stream)
            self._last_time = None
        for frame in self._frames:
            if frame.time is None:
                continue
            self._last_time = frame.time
            if frame.time >= target - self._half_frame:
                return frame_to_rgb(frame, self._size)
        end = "no frame decoded" if self._last_time is None else f"last frame at {self._last_time:.3f}s"
        self.reset()
        raise ValueError(f"no frame at {target:.3f}s ({end})")


def attach_frame_captions(
    video_id: str, clips: Sequence[Clip], plan: FramePlan, captions: dict, errors: dict
) -> tuple:
    """Give each clip the captions of its frames, in order of time.

    captions: time -> caption text; errors: time -> why that frame has no caption. A clip keeps the
    frames that were captioned; a clip left with none is dropped and becomes a Failure naming why.
    Clips whose texts are not summarized (short, sentence: VidLA table 1) get their joined frame
    captions as ``caption`` here.
    Returns (tuple[Clip], list[Failure]).
    """
    from curate.models.summarize import SUMMARIZED_SCALES, captions_as_sentences

    kept, failures = [], []
    for clip in clips:
        times = plan.clip_times.get(clip.key, ())
        good = [(t, captions[t].strip()) for t in times if captions.get(t, "").strip()]
        if good:
            frame_captions = tuple(c for _, c in good)
            caption = None if clip.scale in SUMMARIZED_SCALES else captions_as_sentences(frame_captions)
            kept.append(clip._replace(frame_captions=frame_captions, frame_times=tuple(t for t, _ in good),
                                      caption=caption))
            continue
        if not times:
            detail = f"clip {clip.key} [{clip.start:.3f}, {clip.end:.3f}] s has no frame to caption"
        else:
            why = []
            for t in times:
                if t in errors:
                    why.append(f"{t:.3f}s: {errors[t]}")
                elif t in captions:
                    why.append(f"{t:.3f}s: the captioner returned an empty caption")
                else:
                    why.append(f"{t:.3f}s: no caption came back")
            detail = "no frame of the clip could be captioned; " + "; ".join(why)
        failures.append(Failure(video_id, "caption", "no_frames", detail, clip.key))
    return tuple(kept), failures
