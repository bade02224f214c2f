"""Which frames of a video to caption, decoding them, and giving each clip its frames' captions.

Frames are sampled on ONE grid per video, at ``fps`` frames per second: t_k = (k + 1/2) / fps, the
middle of each 1/fps-second cell. A clip takes the grid times inside [start, end); a clip too short to
hold one gets its own midpoint instead. Clips of every scale overlap in time, so they share grid
frames: each time is decoded and captioned once per video, and the number of captioner calls grows
with the video's duration, not with its number of clips (VidLA captions at ~0.1 FPS, section 3).
Given the video's keyframes, each time moves to the keyframe nearest it in its cell and clips
(plan_frames), since a keyframe decodes alone.

Plain functions, no Beam. PyAV is imported by iter_frames only.
"""

from __future__ import annotations

import bisect
import collections
import logging
import math
import os
import queue
import threading
from contextlib import closing
from typing import NamedTuple, Optional, Sequence

from curate.models.summarize import SUMMARIZED_SCALES, captions_as_sentences
from schemas import Clip, Failure

# Times are rounded to the millisecond so that they are exact dictionary keys everywhere.
_TIME_DECIMALS = 3


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


def plan_frames(clips: Sequence[Clip], fps: float, keyframes: Sequence[float] = ()) -> FramePlan:
    """The frames to caption for `clips` of one video: its grid times (clip_frame_times).

    With `keyframes` (read_keyframes: the video's keyframe times), each planned time t is moved to the
    keyframe nearest it inside its window: t's own 1/fps cell [t - 1/(2 fps), t + 1/(2 fps)), cut to
    the span [start, end) of every clip that holds t. A keyframe decodes alone, any other frame from
    the keyframe before it (a GOP of 2-5 s is 60-150 pictures at 30 FPS): at VidLA's 0.1 FPS on
    720p30 camera footage this decodes 1 picture per frame instead of ~36, 7x less decoding time
    (benchmarks/bench_decode.py, bench_caption.py). A time with no keyframe in its window stays. The
    result is what each clip's frame_times will hold."""
    clip_times = {clip.key: clip_frame_times(clip.start, clip.end, fps) for clip in clips}
    if len(keyframes):
        clip_times = _moved_to_keyframes(clips, clip_times, fps, sorted(keyframes))
    times = sorted({t for ts in clip_times.values() for t in ts})
    return FramePlan(tuple(times), clip_times)


def plan_of(clips: Sequence[Clip]) -> FramePlan:
    """The plan that clips carry in their frame_times (planned by plan_frames before decoding)."""
    clip_times = {clip.key: tuple(clip.frame_times) for clip in clips}
    return FramePlan(tuple(sorted({t for ts in clip_times.values() for t in ts})), clip_times)


def _moved_to_keyframes(clips: Sequence[Clip], clip_times: dict, fps: float, keyframes: list) -> dict:
    half_cell = 0.5 / fps
    windows = {}  # planned time -> [lo, hi)
    for clip in clips:
        for t in clip_times[clip.key]:
            lo, hi = windows.get(t, (t - half_cell, t + half_cell))
            windows[t] = (max(lo, clip.start), min(hi, clip.end))
    moved = {t: _nearest_keyframe(keyframes, t, lo, hi) for t, (lo, hi) in windows.items()}
    return {key: tuple(sorted({moved[t] for t in ts})) for key, ts in clip_times.items()}


def _nearest_keyframe(keyframes: list, t: float, lo: float, hi: float) -> float:
    """The keyframe in [lo, hi) nearest t (the earlier of two as near), as a planned time; t when none."""
    best = None
    for k in keyframes[bisect.bisect_left(keyframes, lo) : bisect.bisect_left(keyframes, hi)]:
        k = round(float(k), _TIME_DECIMALS)
        if lo <= k < hi and (best is None or abs(k - t) < abs(best - t)):
            best = k
    return t if best is None else best


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
    scaler (swscale, bicubic) turns each into RGB at `size` straight from the decoded YUV picture.
    A time that is a keyframe's (read_keyframes, plan_frames(keyframes=...)) costs one decoded
    picture; any other time decodes forward from the keyframe before it."""
    import av  # heavy: PyAV, only where media is decoded

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
        keyframes = _keyframes(media_path, container, stream)
        offset = _start_time(stream)
        alone = len(
            {round(k.time - offset, _TIME_DECIMALS) for k in keyframes}.intersection(
                round(t, _TIME_DECIMALS) for t in times
            )
        )
        # frame threads decode runs of pictures faster, but a keyframe decoded alone only pays their
        # hand-off and flush (a quarter more CPU a 720p keyframe); set before the codec opens
        stream.thread_type = "SLICE" if 2 * alone >= len(times) else "AUTO"
        reader = _FrameReader(container, stream, size, keyframes)
        for t in times:
            try:
                frame = reader.frame_at(reader.offset + t)
            except Exception as exc:  # noqa: BLE001 - a broken frame is reported, the others go on
                reader.reset()
                frame = f"frame at {t:.3f}s of {media_path}: {type(exc).__name__}: {exc}"
            yield t, frame


def read_keyframes(media_path: str) -> tuple:
    """The display times (seconds from the start of the video, as iter_frames takes them) of the
    keyframes of the first video stream, sorted; () when the file cannot be read. One pass over the
    packets, nothing decoded (about 15 ms for 3 minutes of 720p H.264)."""
    import av  # heavy: PyAV, only where media is decoded

    try:
        with av.open(media_path) as container:
            if not container.streams.video:
                return ()
            stream = container.streams.video[0]
            offset = _start_time(stream)
            return tuple(k.time - offset for k in _keyframes(media_path, container, stream))
    except Exception:  # noqa: BLE001 - no keyframes known: every frame is decoded at its exact time
        return ()


class DecodeAhead:
    """Decodes the frames of one video after another in a background thread, `depth` frames ahead
    of the consumer at most, on across videos: a consumer running a model on batches that span
    several videos is not kept waiting at each video's first frames (PyAV releases the GIL while
    it decodes and scales). One consumer; frames come out in the order their videos were added.

    add(key, media_path, times, done) queues a video (iter_frames of its distinct times); `done`,
    where given, runs in the decoding thread once that video is decoded or has failed (to discard
    the download, say), before the video's last frame is handed on. take(ahead) yields (key, t,
    frame or error text): first, blocking, until no more than `ahead` frames are added and not yet
    taken, then those already decoded. A video that stops decoding midway gives the reason for each
    of its frames not decoded. close() stops the thread and runs `done` of the videos it never
    reached."""

    def __init__(self, size: Optional[tuple], depth: int):
        if depth < 1:
            raise ValueError(f"DecodeAhead depth must be >= 1, got {depth}")
        self._size = size
        self._jobs = queue.SimpleQueue()
        self._decoded = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._untaken = 0
        self._thread = threading.Thread(target=self._decode_jobs, name="decode-ahead", daemon=True)
        self._thread.start()

    @property
    def untaken(self) -> int:
        """Frames added and not yet taken."""
        return self._untaken

    def add(self, key, media_path: str, times: Sequence[float], done=None) -> None:
        times = sorted(set(times))
        self._untaken += len(times)
        self._jobs.put((key, media_path, times, done))

    def take(self, ahead: int = 0):
        while self._untaken > ahead:
            yield self._next(block=True)
        while self._untaken:
            item = self._next(block=False)
            if item is None:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._jobs.put(None)
        self._thread.join()
        while not self._jobs.empty():
            job = self._jobs.get()
            if job is not None:
                _run_done(job[3])

    def _next(self, block: bool):
        while True:
            try:
                item = self._decoded.get(timeout=0.5) if block else self._decoded.get_nowait()
            except queue.Empty:
                if not block:
                    return None
                if not self._thread.is_alive():
                    raise RuntimeError("the decoding thread has stopped") from None
                continue
            self._untaken -= 1
            return item

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._decoded.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode_jobs(self) -> None:
        while not self._stop.is_set():
            job = self._jobs.get()
            if job is None:
                return
            key, media_path, times, done = job
            # a video's last answer goes out after `done`: whoever has all of a video's frames
            # knows its media is done with (discarded, where that is what `done` does)
            answers, last = self._answers(key, media_path, times), None
            try:
                for answer in answers:
                    if last is not None and not self._put(last):
                        return
                    last = answer
            finally:
                answers.close()
                _run_done(done)
            if last is not None and not self._put(last):
                return

    def _answers(self, key, media_path: str, times: list):
        """(key, t, frame or error text) for every time, in order."""

        handed = 0  # iter_frames gives the sorted times in order: the first `handed` of them
        try:
            with closing(iter_frames(media_path, times, self._size)) as frames:
                for t, frame in frames:
                    yield key, t, frame
                    handed += 1
            why = f"no frame was decoded at this time of {media_path}"  # every time gets an answer
        except Exception as exc:  # noqa: BLE001 - the frames not decoded yet get the reason
            why = f"decoding {media_path} stopped: {type(exc).__name__}: {exc}"
        for t in times[handed:]:
            yield key, t, why


def _run_done(done) -> None:
    if done is None:
        return
    try:
        done()
    except Exception:  # noqa: BLE001 - a failed clean-up must not stop the frames of other videos
        logging.getLogger(__name__).warning("after decoding a video: %s failed", done, exc_info=True)


def frame_to_rgb(frame, size: Optional[tuple] = None, scalers: Optional[tuple] = None):
    """A decoded PyAV frame as an RGB uint8 array (H, W, 3), scaled to size=(width, height) when given.

    Scaled bicubic in YUV 4:4:4 first, so that the chroma planes are interpolated at full resolution
    like the luma, then converted to RGB at the small size: this is within about one level of 255 (mean)
    of converting the full picture to RGB and resizing it bicubic with PIL, as BLIP-2's processor
    does, where scaling the 4:2:0 picture straight to RGB is three times further off along colour
    edges (tests/models/test_caption_tensors.py).

    scalers: two av.video.reformatter.VideoReformatter kept by the caller across frames of one size:
    the same output, without setting up swscale for every frame (1.6 -> 0.6 ms a 720p frame)."""
    if size is None:
        return frame.to_ndarray(format="rgb24")
    to_444, to_rgb = scalers if scalers is not None else (None, None)
    width, height = int(size[0]), int(size[1])
    if to_444 is None:
        small = frame.reformat(format="yuv444p", width=width, height=height, interpolation="BICUBIC")
        return small.to_ndarray(format="rgb24")
    small = to_444.reformat(frame, format="yuv444p", width=width, height=height, interpolation="BICUBIC")
    return to_rgb.reformat(small, format="rgb24").to_ndarray()


class _Keyframe(NamedTuple):
    time: float  # display time, seconds (pts)
    pts: int  # in the stream's time base
    seek_to: int  # the timestamp that container.seek lands on this keyframe with (dts where known)


def _start_time(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


_SCANNED = collections.OrderedDict()  # (path, size, mtime) -> keyframes, the latest videos
_SCANNED_LOCK = threading.Lock()
# more videos than a decode step plans and queues ahead of its DecodeAhead thread (at most
# curate.beam.models.FRAMES_AHEAD, a frame each at least), so that none is scanned twice
_SCANNED_VIDEOS = 256


def _keyframes(media_path: str, container, stream) -> list:
    """_scan_keyframes of a file, scanned once for planning (read_keyframes) and decoding
    (iter_frames, in DecodeAhead's thread) alike."""
    try:
        st = os.stat(media_path)
        key = (os.path.abspath(media_path), st.st_size, st.st_mtime_ns)
    except OSError:
        return _scan_keyframes(container, stream)
    with _SCANNED_LOCK:
        if key in _SCANNED:
            _SCANNED.move_to_end(key)
            return _SCANNED[key]
    keys = _scan_keyframes(container, stream)
    with _SCANNED_LOCK:
        _SCANNED[key] = keys
        while len(_SCANNED) > _SCANNED_VIDEOS:
            _SCANNED.popitem(last=False)
    return keys


def _scan_keyframes(container, stream) -> list:
    """The stream's keyframes from its packets (not the container's index: MP4's holds decode times,
    which run ahead of display times by the B-frame delay). A read error ends the scan with the
    keyframes found before it."""
    keys = []
    try:
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None:
                seek_to = packet.dts if packet.dts is not None else packet.pts
                keys.append(_Keyframe(float(packet.pts * stream.time_base), packet.pts, seek_to))
    except Exception:  # noqa: BLE001 - a damaged tail: frames past it fail when decoded
        pass
    return sorted(keys)


class _FrameReader:
    """The frame shown at increasing times, decoding as few pictures as the stream allows.

    The frame shown at T is the first, in display order, at or after T less half a frame. A keyframe
    that is that frame is decoded alone (no picture before or after it); any other frame is decoded
    forward from the keyframe before it, or on from the previous frame when no keyframe lies in
    between. Every seek lands on a known keyframe: the packets
    before it are skipped undecoded, so a demuxer that seeks short (floating point, an index of
    decode times) costs no decoding."""

    def __init__(self, container, stream, size: Optional[tuple], keyframes: list):
        self._container = container
        self._stream = stream
        self._size = size
        self._codec = stream.codec_context
        self.offset = _start_time(stream)
        rate = float(stream.average_rate) if stream.average_rate else 25.0
        self._half_frame = 0.5 / rate
        self._keys = keyframes  # _scan_keyframes
        self._key_times = [k.time for k in self._keys]
        self._scalers = None
        self.reset()

    def reset(self):
        self._frames = None
        self._last_time = None
        self._last_frame = None
        self._earliest = float("-inf")

    def frame_at(self, target: float):
        earliest = target - self._half_frame
        i = bisect.bisect_right(self._key_times, target + self._half_frame) - 1
        key = self._keys[max(i, 0)] if self._keys else None
        if self._last_frame is not None and self._last_time >= earliest:
            return self._convert(self._last_frame)  # two times within one frame: the same picture
        if key is not None and key.time >= earliest:
            return self._convert(self._keyframe_alone(key))
        # decoding on from the last frame never costs more than starting again at a keyframe at or
        # before it; a keyframe after it is where to start
        if (
            self._frames is None
            or self._last_time is None
            or target < self._last_time
            or (key is not None and key.time > self._last_time)
        ):
            self._frames = self._decode_from(key)
            self._last_time = self._last_frame = None
        self._earliest = earliest
        for frame in self._frames:
            if frame.time is None:
                continue
            self._last_time = frame.time
            if frame.time >= earliest:
                self._last_frame = frame
                return self._convert(frame)
        end = "no frame decoded" if self._last_time is None else f"last frame at {self._last_time:.3f}s"
        self.reset()
        raise ValueError(f"no frame at {target:.3f}s ({end})")

    def _packets_from(self, key):
        """The stream's packets in decode order, from `key` (from the start when None). A seek past
        the keyframe (a demuxer without an exact index) falls back to the start of the stream."""
        if key is None:
            self._container.seek(0, stream=self._stream, backward=True)
            yield from self._container.demux(self._stream)
            return
        for seek_to in (key.seek_to, None):
            self._container.seek(seek_to if seek_to is not None else 0, stream=self._stream, backward=True)
            packets = self._container.demux(self._stream)
            for packet in packets:
                if packet.pts == key.pts:
                    yield packet
                    yield from packets
                    return
                if packet.is_keyframe and packet.pts is not None and packet.pts > key.pts:
                    break  # landed after it

    def _decode_from(self, key):
        """Decoded frames from `key` on. A picture no other picture refers to (a B-frame, mostly) is
        not decoded at all when it is shown before the frame looked for (self._earliest, which
        frame_at moves forward): the decoder skips it (AVDISCARD_NONREF, set as each packet is
        sent, so frame threads see it too) and every picture after it decodes the same. About a
        third less decoding on x264 uploads with B-frames."""
        self._codec.flush_buffers()
        base = self._stream.time_base
        for packet in self._packets_from(key):
            shown_before = packet.pts is not None and float(packet.pts * base) < self._earliest - self._half_frame
            self._codec.skip_frame = "NONREF" if shown_before else "DEFAULT"
            yield from self._codec.decode(packet)  # the flush packet at the end drains the decoder

    def _keyframe_alone(self, key):
        self.reset()
        self._codec.flush_buffers()
        self._codec.skip_frame = "DEFAULT"
        packet = next(self._packets_from(key), None)
        if packet is None:
            raise ValueError(f"the keyframe at {key.time:.3f}s could not be read")
        frames = self._codec.decode(packet) + self._codec.decode(None)  # send it, then drain
        self._codec.flush_buffers()
        for frame in frames:
            if frame.pts == key.pts:
                return frame
        raise ValueError(f"the keyframe at {key.time:.3f}s decoded to no picture")

    def _convert(self, frame):
        if self._scalers is None:
            from av.video.reformatter import VideoReformatter  # heavy: PyAV, only where media is decoded

            self._scalers = (VideoReformatter(), VideoReformatter())
        return frame_to_rgb(frame, self._size, self._scalers)


def attach_frame_captions(video_id: str, clips: Sequence[Clip], plan: FramePlan, captions: dict, errors: dict) -> tuple:
    """Give each clip the captions of its frames, in order of time.

    captions: time -> caption text; errors: time -> why that frame has no caption. A clip keeps the
    frames that were captioned; a clip left with none is dropped and becomes a Failure naming why.
    Clips whose texts are not summarized (short, sentence: VidLA table 1) get their joined frame
    captions as ``caption`` here.
    Returns (tuple[Clip], list[Failure]).
    """

    kept, failures = [], []
    for clip in clips:
        times = plan.clip_times.get(clip.key, ())
        good = [(t, captions[t].strip()) for t in times if captions.get(t, "").strip()]
        if good:
            frame_captions = tuple(c for _, c in good)
            caption = None if clip.scale in SUMMARIZED_SCALES else captions_as_sentences(frame_captions)
            kept.append(
                clip._replace(frame_captions=frame_captions, frame_times=tuple(t for t, _ in good), caption=caption)
            )
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
