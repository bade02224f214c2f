"""Decode only the frames a clip is sampled at.

Chosen by measurement (benchmarks/bench_loader.py; PyAV, decord and torchcodec were compared on
this machine: torchcodec's CPU wheel does not load, decord was no faster than PyAV and is unmaintained):
PyAV, demuxing every packet (cheap, no decoding) to find the frame count and keyframes, then
decoding, for each group-of-pictures that holds a wanted frame, only from its keyframe up to the
last wanted frame in it. Frames between wanted ones are decoded (the codec needs them) but never
converted to RGB, and GOPs without a wanted frame are not decoded at all.
"""

from __future__ import annotations

import bisect
import io
from typing import Callable, Optional, Sequence, Union


class DecodeError(ValueError):
    """A clip that cannot be decoded (corrupt, empty, no video stream)."""


def uniform_indices(num_available: int, num_frames: int) -> list:
    """``num_frames`` indices at the centres of equal segments of ``range(num_available)``
    (indices repeat when the clip has fewer frames than asked for)."""
    if num_available <= 0:
        raise DecodeError("clip has no frames")
    return [min(num_available - 1, int((i + 0.5) * num_available / num_frames)) for i in range(num_frames)]


def _open(source):
    import av

    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    try:
        container = av.open(source)
    except Exception as exc:  # av raises many error types (InvalidDataError, OSError, ...)
        raise DecodeError(f"cannot open video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise DecodeError("no video stream")
    stream = container.streams.video[0]
    # One decoding thread: loader throughput scales with DataLoader workers, one per core.
    stream.thread_type = "NONE"
    stream.codec_context.thread_count = 1
    return container, stream


def _to_rgb(frame, short_side: Optional[int]):
    """(H, W, 3) uint8; scaled by swscale so the short side is at most ``short_side``."""
    width, height = frame.width, frame.height
    if short_side and min(width, height) > short_side:
        scale = short_side / min(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
        return frame.to_ndarray(format="rgb24", width=width, height=height)
    return frame.to_ndarray(format="rgb24")


def decode_sampled_frames(
    source: Union[bytes, str],
    num_frames: int,
    short_side: Optional[int] = None,
    indices: Union[Sequence[int], Callable[[int], Sequence[int]], None] = None,
):
    """Decode ``num_frames`` uniformly sampled frames (or the frames at ``indices``, in presentation
    order) of a clip given as bytes or a path. ``indices`` may be a function of the clip's frame count
    (sampling windows that depend on the clip's length). Returns a (T, H, W, 3) uint8 numpy array."""
    import numpy as np

    def pick(num_available: int) -> list:
        if indices is None:
            return uniform_indices(num_available, num_frames)
        return list(indices(num_available)) if callable(indices) else list(indices)

    return np.stack(decode_frames(source, pick, lambda position, source_short_side: short_side))


def decode_frames(
    source: Union[bytes, str],
    pick: Callable[[int], Sequence[int]],
    short_side_of: Callable[[int, int], Optional[int]] = lambda position, source_short_side: None,
) -> list:
    """Decode, in one pass, the frames ``pick(number of frames in the clip)`` chooses; the frame at
    position ``i`` of that list is scaled so its short side is at most
    ``short_side_of(i, the video's short side)`` (None: as decoded), so one frame can come at full
    resolution and its neighbours small. Returns a list of (H, W, 3) uint8 arrays in the order of
    ``pick``'s indices."""
    container, stream = _open(source)
    try:
        packets = [p for p in container.demux(stream) if p.size and p.pts is not None]
        if not packets:
            raise DecodeError("clip has no video packets")
        frame_pts = sorted(p.pts for p in packets)  # presentation order
        indices = list(pick(len(frame_pts)))
        if not indices:
            raise DecodeError("no frame indices to decode")
        if max(indices) >= len(frame_pts) or min(indices) < 0:
            raise DecodeError(f"frame index out of range 0..{len(frame_pts) - 1}")
        source_short_side = min(stream.codec_context.width, stream.codec_context.height)
        sides = [short_side_of(i, source_short_side) for i in range(len(indices))]
        wanted_pts = [frame_pts[i] for i in indices]
        sides_by_pts = {}
        for pts, side in zip(wanted_pts, sides):
            sides_by_pts.setdefault(pts, set()).add(side)
        key_positions = [i for i, p in enumerate(packets) if p.is_keyframe]
        if not key_positions or packets[key_positions[0]].pts > frame_pts[0]:
            key_positions = [0] + key_positions  # no usable keyframe index: decode from the start
        key_pts = [packets[i].pts if i else frame_pts[0] for i in key_positions]
        by_gop = {}
        for pts in wanted_pts:
            by_gop.setdefault(max(0, bisect.bisect_right(key_pts, pts) - 1), set()).add(pts)
        codec = stream.codec_context
        rgb = {}  # (pts, short side) -> (H, W, 3)
        for gop, needed in sorted(by_gop.items()):
            codec.flush_buffers()  # drop frames buffered from the previous GOP
            end = key_positions[gop + 1] if gop + 1 < len(key_positions) else len(packets)
            for packet in [*packets[key_positions[gop] : end], None]:  # None drains the decoder
                # A frame no other frame references (most B-frames) is only decoded when it is wanted.
                codec.skip_frame = "DEFAULT" if packet is None or packet.pts in needed else "NONREF"
                for frame in codec.decode(packet):
                    if frame.pts in needed:
                        for side in sides_by_pts[frame.pts]:
                            rgb[frame.pts, side] = _to_rgb(frame, side)
                        needed.discard(frame.pts)
                if not needed:
                    break
            if needed:
                raise DecodeError(f"{len(needed)} sampled frames could not be decoded")
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"decoding failed: {exc}") from exc
    finally:
        container.close()
    return [rgb[pts, side] for pts, side in zip(wanted_pts, sides)]


def video_duration(source: Union[bytes, str]) -> Optional[float]:
    """The video stream's duration in seconds from the container's header (None where it gives none)."""
    container, stream = _open(source)
    try:
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / 1e6 if container.duration else None
    finally:
        container.close()


def decode_all_then_sample(source: Union[bytes, str], num_frames: int, short_side: Optional[int] = None):
    """The baseline: decode and convert every frame, then take the uniformly sampled ones. Kept for
    the loader benchmark and as the reference in tests."""
    import numpy as np

    container, stream = _open(source)
    try:
        frames = [_to_rgb(f, short_side) for f in container.decode(stream)]
    except Exception as exc:
        raise DecodeError(f"decoding failed: {exc}") from exc
    finally:
        container.close()
    return np.stack([frames[i] for i in uniform_indices(len(frames), num_frames)])
