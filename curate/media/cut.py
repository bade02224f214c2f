"""Cut clips out of a local video with ffmpeg, and check each result before it becomes a sample.

Two modes, as users of video2dataset and Panda-70M ask for:
- ``copy``: keyframe stream copy. Fast (no decoding), but a clip starts at the keyframe at or before the
  span's start, so it may be longer than the span by up to one GOP.
- ``reencode``: exact cut (ffmpeg's accurate seek decodes from the previous keyframe and drops frames
  before the start), libx264 + aac, optionally scaled to a target short side (e.g. 224 for VidLA-style
  training; None keeps the source resolution, e.g. 720p for HD-VILA-style training).

All clips of one video are cut by one ffmpeg process per batch of ``clips_per_process`` clips: each
clip is its own seeking input mapped to its own output, which is the same work as one ffmpeg per clip
without paying a process start and a container probe per clip. ffmpeg is always given an argument
list, never a shell string, and output names are our own keys, never ids or titles from the source.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

from curate.errors import StageError, environment_fault
from curate.files import UnsafeFile, check_regular, ensure_free_space
from curate.output import write
from schemas import Failure

MODES = ("copy", "reencode")


@dataclass(frozen=True)
class CutConfig:
    mode: str = "reencode"  # "copy" (keyframe stream copy, fast) or "reencode" (exact)
    short_side: Optional[int] = None  # reencode only: scale so the shorter side is this; None keeps it
    crf: int = 23  # reencode: libx264 quality (lower is better and bigger)
    preset: str = "veryfast"  # reencode: libx264 speed/size trade-off
    audio: bool = True  # keep the audio track (when the source has one)
    clips_per_process: int = 4  # clips cut by one ffmpeg process (bounds the encoders alive at once)
    # accepted |clip duration - span duration| in seconds; in copy mode the clip may in addition be
    # longer by up to copy_keyframe_slack because it starts at the keyframe before the span
    tolerance: float = 0.5
    copy_keyframe_slack: float = 10.0  # x264's default GOP is 250 frames: 10 s at 25 fps
    timeout_s: float = 600.0  # per ffmpeg process
    ffmpeg: str = "ffmpeg"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"cut mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "copy" and self.short_side is not None:
            raise ValueError("cut mode 'copy' cannot change the resolution; use mode 'reencode' with short_side")
        if self.short_side is not None and (self.short_side < 16 or self.short_side % 2):
            raise ValueError(f"short_side must be an even number >= 16, got {self.short_side}")
        if self.clips_per_process < 1:
            raise ValueError("clips_per_process must be >= 1")


class ClipRequest(NamedTuple):
    key: str  # the output is <out_dir>/<key>.mp4
    start: float
    end: float


class CutResult(NamedTuple):
    key: str
    path: str
    duration: float  # probed duration of the written clip
    width: int
    height: int
    num_bytes: int


class SourceInfo(NamedTuple):
    duration: float
    width: int
    height: int
    has_audio: bool


def probe_media(path: str, timeout: Optional[float] = None) -> SourceInfo:
    """Duration, size and audio presence of a video (a local path, or an http(s) URL that FFmpeg reads
    with ``timeout`` seconds for each wait); decodes its first frame so that a file whose header is
    fine but whose data is not is caught here. Raises StageError."""
    import av  # lazy: PyAV is only needed where clips are cut

    if "://" not in path:
        try:
            check_regular(path)  # FFmpeg would wait forever on a named pipe, or read a device
        except UnsafeFile as exc:
            raise StageError("media_not_a_file", str(exc)) from None
        except OSError:
            pass  # missing: FFmpeg says so below
    try:
        with av.open(path, timeout=timeout) as container:
            if not container.streams.video:
                raise StageError("no_video_stream", f"{path} has no video stream")
            stream = container.streams.video[0]
            duration = _container_duration(container, stream)
            frame = next(container.decode(video=0), None)
            if frame is None:
                raise StageError("no_video_frames", f"{path}: no video frame could be decoded")
            return SourceInfo(duration, frame.width, frame.height, bool(container.streams.audio))
    except StageError:
        raise
    except (av.error.FFmpegError, OSError, StopIteration) as exc:
        raise StageError("unreadable_media", f"{path}: {exc}") from exc


def _container_duration(container, stream) -> float:
    if container.duration is not None:
        return container.duration / 1_000_000
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def scaled_size(width: int, height: int, short_side: Optional[int]) -> tuple[int, int]:
    """(width, height) after scaling the shorter side to short_side, both even (x264 needs that)."""
    if short_side is None:
        return width - width % 2, height - height % 2
    if width >= height:
        return max(2, round(width * short_side / height / 2) * 2), short_side
    return short_side, max(2, round(height * short_side / width / 2) * 2)


def clip_ffmpeg_args(
    media_path: str, clips: Sequence[ClipRequest], out_dir: str, config: CutConfig, source: SourceInfo
) -> list:
    """The ffmpeg argument list that cuts `clips` of `media_path` into `out_dir` (one process)."""
    args = [config.ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for clip in clips:
        # Input seeking: -ss before -i jumps to the keyframe before start (accurate_seek then drops
        # the frames before start when re-encoding). -t bounds the input read.
        args += ["-ss", f"{clip.start:.3f}", "-t", f"{clip.end - clip.start:.3f}", "-i", media_path]
    for i, clip in enumerate(clips):
        args += ["-map", f"{i}:v:0"]
        if config.audio and source.has_audio:
            args += ["-map", f"{i}:a:0"]
        args += ["-map_metadata", "-1", "-sn", "-dn"]
        if config.mode == "copy":
            args += ["-c", "copy", "-avoid_negative_ts", "make_zero"]
        else:
            width, height = scaled_size(source.width, source.height, config.short_side)
            if (width, height) != (source.width, source.height):
                args += ["-vf", f"scale={width}:{height}"]
            args += [
                "-c:v",
                "libx264",
                "-preset",
                config.preset,
                "-crf",
                str(config.crf),
                "-pix_fmt",
                "yuv420p",
            ]
            if config.audio and source.has_audio:
                args += ["-c:a", "aac", "-b:a", "128k"]
        args += ["-movflags", "+faststart", "-f", "mp4", os.path.join(out_dir, f"{clip.key}.mp4")]
    return args


def run_ffmpeg(args: list, timeout_s: float) -> None:
    """Run ffmpeg; raise StageError with ffmpeg's own error text on failure."""
    try:
        proc = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError as exc:
        raise StageError("ffmpeg_missing", f"{args[0]} not found: install ffmpeg") from exc
    except subprocess.TimeoutExpired as exc:
        raise StageError("ffmpeg_timeout", f"ffmpeg ran longer than {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        text = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise StageError("ffmpeg_failed", f"exit {proc.returncode}: {text}")


def check_clip(path: str, clip: ClipRequest, config: CutConfig) -> CutResult:
    """Probe a written clip: it must decode, have a video stream and a duration close to its span."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        raise StageError("empty_clip", f"ffmpeg wrote nothing for {clip.key}", key=clip.key)
    try:
        info = probe_media(path)
    except StageError as exc:
        raise StageError(exc.reason, exc.detail, key=clip.key) from exc
    span = clip.end - clip.start
    slack = config.copy_keyframe_slack if config.mode == "copy" else 0.0
    if not (span - config.tolerance <= info.duration <= span + config.tolerance + slack):
        raise StageError(
            "clip_duration_mismatch",
            f"{clip.key}: clip is {info.duration:.2f} s, span is {span:.2f} s",
            key=clip.key,
        )
    return CutResult(clip.key, path, info.duration, info.width, info.height, os.path.getsize(path))


def cut_clips(
    media_path: str,
    clips: Sequence[ClipRequest],
    out_dir: str,
    config: CutConfig,
    source: Optional[SourceInfo] = None,
) -> list:
    """Cut every clip of one video into out_dir. Returns one item per clip, in order: a CutResult, or
    the StageError that explains why that clip is not a sample. Raises StageError when the source
    itself cannot be used (then no clip of it can be). source: what is known of the video (probed
    here when None)."""
    source = source or probe_media(media_path)
    os.makedirs(out_dir, exist_ok=True)
    results: dict = {}
    todo = []
    for clip in clips:
        if not 0 <= clip.start < clip.end <= source.duration + config.tolerance:
            results[clip.key] = StageError(
                "span_outside_video",
                f"{clip.key}: span {clip.start:.2f}-{clip.end:.2f} s, video is {source.duration:.2f} s",
                key=clip.key,
            )
        else:
            todo.append(clip)
    for i in range(0, len(todo), config.clips_per_process):
        batch = todo[i : i + config.clips_per_process]
        try:
            run_ffmpeg(clip_ffmpeg_args(media_path, batch, out_dir, config, source), config.timeout_s)
            results.update((clip.key, _checked(clip, out_dir, config)) for clip in batch)
        except StageError:
            # One bad clip fails the whole process: redo the batch one clip at a time so that the
            # others still become samples and the bad one gets its own reason.
            results.update((clip.key, _cut_one(media_path, clip, out_dir, config, source)) for clip in batch)
    return [results[clip.key] for clip in clips]


def _cut_one(media_path, clip, out_dir, config, source):
    try:
        run_ffmpeg(clip_ffmpeg_args(media_path, [clip], out_dir, config, source), config.timeout_s)
    except StageError as exc:
        _remove(os.path.join(out_dir, f"{clip.key}.mp4"))
        fault = environment_fault(exc)
        if fault is not None:  # the disk, not the clip: the run stops, the clip is redone by a rerun
            raise fault from exc
        return StageError(exc.reason, exc.detail, key=clip.key)
    return _checked(clip, out_dir, config)


def _checked(clip, out_dir, config):
    path = os.path.join(out_dir, f"{clip.key}.mp4")
    try:
        return check_clip(path, clip, config)
    except StageError as exc:
        _remove(path)
        ensure_free_space(out_dir)  # a file cut short by a full disk is no defect of the clip
        return exc


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def ffmpeg_available(binary: str = "ffmpeg") -> bool:
    return shutil.which(binary) is not None


def cut_video(meta, clips: Sequence, out_dir: str, config: CutConfig, commit: bool = True):
    """Cut one video's planned clips (schemas.Clip) and stage them in DIR/.staging/<video>/.

    Returns a curate.output.write.StagedVideo: the clips that became samples (with their cut size) and a
    schemas.Failure (stage "cut") for each that did not. Raises StageError when the source video
    itself cannot be cut. commit=False stages the clip files without the manifest that makes them
    count (a later stage still adds metadata, then calls curate.output.write.write_manifest)."""

    if not meta.media_path:
        raise StageError("no_media", "the video was not downloaded", video_id=meta.video_id)
    if not os.path.exists(meta.media_path):  # read and probed before, gone now: not the video's fault
        raise StageError(
            "media_vanished", f"{meta.media_path} no longer exists; a rerun redoes the video", video_id=meta.video_id
        )
    work = write.local_work_dir(out_dir, "cut")
    try:
        ensure_free_space(work)
        ensure_free_space(out_dir)
        requests = [ClipRequest(c.key, c.start, c.end) for c in clips]
        results = cut_clips(meta.media_path, requests, work, config)
        ok, paths, sizes, failures = [], [], [], []
        for clip, result in zip(clips, results):
            if isinstance(result, StageError):
                failures.append(Failure(meta.video_id, "cut", result.reason, result.detail, clip.key))
            else:
                ok.append(clip._replace(height=result.height, width=result.width))
                paths.append(result.path)
                sizes.append(result.num_bytes)
        staged = write.StagedVideo(meta.video_id, tuple(ok), tuple(sizes), tuple(failures))
        if ok:
            stage = write.commit_staged_video if commit else write.stage_clip_files
            stage(out_dir, staged, paths)
        return staged
    except StageError as exc:
        raise StageError(exc.reason, exc.detail, video_id=meta.video_id) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
