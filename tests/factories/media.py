"""Generated media with known truth: sample videos (samplemedia) and their sentences, short lavfi test
clips, and info-json edits."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

# Sentences with the things parsers must keep straight: commas, a question, an apostrophe, a
# short remark between long ones.
SAMPLE_SENTENCES = [
    "Yesterday, the old fisherman repaired the wooden boat before the sun came up.",
    "Nobody expected it.",
    "Have you ever wondered why the kitchen window looks so different in the rain?",
    "My grandmother didn't open the blue door, and then our neighbour carried a heavy suitcase.",
    "That was the plan.",
    "After lunch, a curious child followed the river guide near the edge of the forest.",
]


def declare_height(info_path, height: int) -> None:
    """Make an info json declare ``height`` (and the matching width) for the video and its formats."""
    import json

    info = json.loads(Path(info_path).read_text())
    scale = height / info["height"]
    for record in [info, *info.get("formats", ())]:
        if record.get("height"):
            record["width"], record["height"] = round(record["width"] * scale), round(record["height"] * scale)
    Path(info_path).write_text(json.dumps(info))


SOURCES = (
    "testsrc",
    "testsrc2",
    "smptebars",
    "rgbtestsrc",
    "mandelbrot=size={w}x{h}",
    "cellauto=size={w}x{h}",
)


def make_clip_video(
    path,
    *,
    seconds: float = 1.6,
    fps: int = 10,
    width: int = 96,
    height: int = 64,
    variant: int = 0,
    gop: Optional[int] = None,
    bframes: int = 0,
    source: Optional[str] = None,
) -> Path:
    """A short H.264 mp4 of a lavfi test source; ``variant`` picks the source and a hue shift so that
    clips differ (``source``, e.g. ``color=c=red``, replaces the source). Default encoding is fast
    (ultrafast, no B-frames); ``bframes``/``gop`` make the harder streams the decoder tests need."""
    source = source or SOURCES[variant % len(SOURCES)].format(w=width, h=height)
    if "=" not in source:
        source = f"{source}=size={width}x{height}"
    hue = (variant * 47) % 360
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"{source}:rate={fps}",
        "-vf",
        f"scale={width}:{height},hue=h={hue},format=yuv420p",
        "-t",
        f"{seconds:.2f}",
        "-c:v",
        "libx264",
        "-g",
        str(gop or fps * 2),
    ]
    cmd += ["-preset", "veryfast", "-bf", str(bframes)] if bframes else ["-preset", "ultrafast"]
    cmd += [str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ffmpeg failed writing {path}: {done.stderr[-1000:]}")
    return Path(path)


def make_clip_videos(folder, count: int, name: str = "video{}", **kwargs) -> Path:
    """``folder`` with ``count`` clips of make_clip_video (``kwargs``), ``name.format(i)``.mp4 of variant i."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        make_clip_video(folder / f"{name.format(i)}.mp4", variant=i, **kwargs)
    return folder
