"""Sample videos the way a yt-dlp download folder holds them: the mp4, its subtitles, the info json
and the truth (layout in the package doc)."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

from samplemedia.sentences import sentences_for
from samplemedia.speech import SAMPLE_RATE, TruthSentence, TruthWord, synthesize_speech
from samplemedia.subtitles import auto_json3, auto_vtt, manual_vtt, srt
from samplemedia.video import BACKGROUNDS, encode_video

# which file lands at <id>.en.<ext> (and is declared in the info json); "none" = no subtitles
MAIN_SUBTITLES = ("auto_vtt", "manual_vtt", "srt", "json3", "none")


class SampleVideo(NamedTuple):
    video_id: str
    folder: str
    media_path: str
    info_path: str
    truth_path: str
    subtitle_path: str  # the <id>.en.<ext> file, "" when main_subtitle="none"
    subtitles: dict  # format -> path: "vtt_auto", "vtt", "srt", "json3"
    duration: float
    sentences: tuple  # tuple[TruthSentence, ...]


def info_json(
    video_id: str,
    title: str,
    duration: float,
    width: int,
    height: int,
    fps: float,
    category: str,
    main_subtitle: str,
    media_name: str,
) -> dict:
    """Metadata in the shape yt-dlp writes to <id>.info.json (the fields the pipeline reads)."""
    url = f"https://www.youtube.com/watch?v={video_id}"

    def sub_url(kind, ext):
        return f"https://www.youtube.com/api/timedtext?v={video_id}&lang=en&kind={kind}&fmt={ext}"

    auto = {
        "en": [
            {"ext": ext, "url": sub_url("asr", ext), "name": "English (auto-generated)"}
            for ext in ("json3", "srv1", "srv2", "srv3", "ttml", "vtt")
        ]
    }
    manual = {
        "en": [
            {"ext": ext, "url": sub_url("", ext), "name": "English"}
            for ext in ("json3", "srv1", "srv2", "srv3", "ttml", "vtt", "srt")
        ]
    }
    subtitles = manual if main_subtitle in ("manual_vtt", "srt") else {}
    formats = [
        {
            "format_id": fid,
            "ext": ext,
            "width": w,
            "height": h,
            "fps": fps if h else None,
            "vcodec": vc,
            "acodec": ac,
            "url": f"{url}&itag={fid}",
            "protocol": "https",
        }
        for fid, ext, w, h, vc, ac in [
            ("140", "m4a", None, None, "none", "mp4a.40.2"),
            ("134", "mp4", round(width * 360 / height), 360, "avc1.4d401e", "none"),
            ("135", "mp4", round(width * 480 / height), 480, "avc1.4d401f", "none"),
            ("136", "mp4", width, height, "avc1.64001f", "none"),
        ]
        if h is None or h <= height
    ]
    requested = {}
    if main_subtitle != "none":
        ext = {"auto_vtt": "vtt", "manual_vtt": "vtt", "srt": "srt", "json3": "json3"}[main_subtitle]
        requested = {"en": {"ext": ext, "filepath": f"{video_id}.en.{ext}"}}
    return {
        "id": video_id,
        "title": title,
        "fulltitle": title,
        "description": f"Generated test video {video_id}.",
        "duration": round(duration, 3),
        "duration_string": f"{int(duration) // 60}:{int(duration) % 60:02d}",
        "width": width,
        "height": height,
        "fps": fps,
        "resolution": f"{width}x{height}",
        "format_id": "136+140",
        "ext": "mp4",
        "vcodec": "avc1.64001f",
        "acodec": "mp4a.40.2",
        "categories": [category],
        "tags": ["generated"],
        "language": "en",
        "channel": "curate test media",
        "uploader": "curate test media",
        "upload_date": "20240101",
        "webpage_url": url,
        "original_url": url,
        "extractor": "youtube",
        "extractor_key": "Youtube",
        "formats": formats,
        "subtitles": subtitles,
        "automatic_captions": auto,
        "requested_subtitles": requested or None,
        "_filename": media_name,
        "filepath": media_name,
    }


def make_sample_video(
    out_dir: Union[str, os.PathLike],
    video_id: str,
    sentences: Sequence[str],
    *,
    background: str = "shapes",
    width: int = 1280,
    height: int = 720,
    fps: float = 12,
    pause: float = 0.6,
    lead_in: float = 0.5,
    min_duration: Optional[float] = None,
    category: str = "Education",
    audio: bool = True,
    main_subtitle: str = "auto_vtt",
    title: str = "",
) -> SampleVideo:
    """Write one sample video with its subtitles, info json and truth (layout in the module doc).

    The video lasts until the speech ends plus ``pause`` (at least ``min_duration`` seconds).
    ``audio=False`` leaves the audio track out (the subtitles still describe the silent speech).
    """
    if background not in BACKGROUNDS:
        raise ValueError(f"unknown background {background!r}; expected one of {BACKGROUNDS}")
    if main_subtitle not in MAIN_SUBTITLES:
        raise ValueError(f"unknown main_subtitle {main_subtitle!r}; expected one of {MAIN_SUBTITLES}")
    folder = Path(out_dir)
    subs_dir = folder / f"{video_id}.subs"
    subs_dir.mkdir(parents=True, exist_ok=True)
    samples, truth = synthesize_speech(sentences, pause=pause, lead_in=lead_in)
    duration = max(len(samples) / SAMPLE_RATE, min_duration or 0.0)
    duration = round(duration * fps) / fps  # a whole number of frames
    samples = np.pad(samples, (0, max(0, int(duration * SAMPLE_RATE) - len(samples))))

    media = folder / f"{video_id}.mp4"
    encode_video(
        str(media),
        samples if audio else None,
        duration,
        background=background,
        width=width,
        height=height,
        fps=fps,
    )

    subtitles = {
        "vtt_auto": (subs_dir / "auto.vtt", auto_vtt(truth)),
        "vtt": (subs_dir / "manual.vtt", manual_vtt(truth)),
        "srt": (subs_dir / "manual.srt", srt(truth)),
        "json3": (subs_dir / "auto.json3", auto_json3(truth)),
    }
    for path, text in subtitles.values():
        path.write_text(text, encoding="utf-8")
    subtitle_path = ""
    if main_subtitle != "none":
        fmt = {"auto_vtt": "vtt_auto", "manual_vtt": "vtt", "srt": "srt", "json3": "json3"}[main_subtitle]
        source = subtitles[fmt][0]
        subtitle_path = str(folder / f"{video_id}.en{source.suffix}")
        shutil.copyfile(source, subtitle_path)

    title = title or f"{sentences[0].rstrip('.?!')}"[:80]
    info = info_json(video_id, title, duration, width, height, fps, category, main_subtitle, media.name)
    info_path = folder / f"{video_id}.info.json"
    info_path.write_text(json.dumps(info, indent=1), encoding="utf-8")
    truth_path = folder / f"{video_id}.truth.json"
    truth_doc = {
        "video_id": video_id,
        "duration": duration,
        "word_times": "approximate: spread over each sentence's measured span by word length",
        "sentences": [
            {"text": s.text, "start": s.start, "end": s.end, "words": [w._asdict() for w in s.words]} for s in truth
        ],
    }
    truth_path.write_text(json.dumps(truth_doc, indent=1), encoding="utf-8")
    return SampleVideo(
        video_id=video_id,
        folder=str(folder),
        media_path=str(media),
        info_path=str(info_path),
        truth_path=str(truth_path),
        subtitle_path=subtitle_path,
        subtitles={fmt: str(path) for fmt, (path, _) in subtitles.items()},
        duration=duration,
        sentences=truth,
    )


def load_truth(path: Union[str, os.PathLike]) -> tuple:
    """The TruthSentence tuple of a <id>.truth.json."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(
        TruthSentence(s["text"], s["start"], s["end"], tuple(TruthWord(**w) for w in s["words"]))
        for s in doc["sentences"]
    )


def make_sample_folder(
    out_dir: Union[str, os.PathLike],
    num_videos: int,
    *,
    seconds: Union[float, tuple] = 30.0,
    seed: int = 0,
    background: str = "shapes",
    main_subtitle: str = "auto_vtt",
) -> list[SampleVideo]:
    """A yt-dlp-style download folder of ``num_videos`` sample videos.

    seconds: each video's length, or a (low, high) range to draw lengths from (10 s to 10 min is
    what the pipeline expects). Everything is deterministic given ``seed``.
    """
    rng = random.Random(seed)
    categories = ["Education", "Howto & Style", "Travel & Events", "Science & Technology", "Sports"]
    videos = []
    for i in range(num_videos):
        length = rng.uniform(*seconds) if isinstance(seconds, (tuple, list)) else float(seconds)
        video_id = f"sample{seed:03d}v{i:03d}"
        videos.append(
            make_sample_video(
                out_dir,
                video_id,
                sentences_for(length, seed * 1000 + i),
                background=background,
                min_duration=length,
                category=categories[i % len(categories)],
                main_subtitle=main_subtitle,
            )
        )
    return videos
