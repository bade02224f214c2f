"""The records at each stage boundary.

NamedTuples so that they are immutable, cheap, picklable, and encodable by Beam's RowCoder.
Stages return new records (``rec._replace(...)``) instead of mutating.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional

# Bump when a field is added, removed or changes meaning; written into every shard sample and
# Parquet file so that readers can refuse data they do not understand.
SCHEMA_VERSION = "1.2"  # 1.1: Clip.transcript_repairs; 1.2: Sentence.speaker

# Clip scales: "sentence" is HD-VILA's single-scale recipe, short/medium/long are VidLA's, "video" is a
# whole video or a window of it (the long-video recipe of seed 003, curate.text.clips.with_video_scale).
SCALES = ("sentence", "short", "medium", "long", "video")


class VideoMeta(NamedTuple):
    """One source video, as read from a manifest and completed by the probe."""

    video_id: str
    url: str  # what yt-dlp is given: a YouTube URL, an http(s) URL or a file:// URL
    title: str = ""
    duration: Optional[float] = None  # seconds, None until probed
    height: Optional[int] = None  # best available height, None until probed
    width: Optional[int] = None
    fps: Optional[float] = None
    category: str = ""  # YouTube category, e.g. "Howto & Style"
    language: str = ""
    # "manual", "auto" or "" (none: ASR is needed)
    subtitle_kind: str = ""
    subtitle_path: str = ""  # local subtitle file once downloaded
    media_path: str = ""  # local video file once downloaded
    info_path: str = ""  # local yt-dlp info json once downloaded
    # clips given by the source (HD-VILA-100M release spans), as (start, end) pairs
    given_spans: tuple = ()
    has_audio: Optional[bool] = None  # whether the video has an audio track (for ASR), None until probed


class TimedWord(NamedTuple):
    text: str
    start: float
    end: float


class Transcript(NamedTuple):
    """A video's words with times, from subtitles or ASR."""

    video_id: str
    words: tuple  # tuple[TimedWord, ...], ordered by start
    # where the words came from: "vtt_auto", "vtt", "srt", "srt_auto", "json3", "ass", "asr:<model>"
    source: str
    punctuated: bool  # True when the text already carries sentence punctuation
    language: str = ""
    # local defects of the source that were repaired instead of dropping the video, as sorted
    # (kind, count) pairs, e.g. (("overlap_trimmed", 12), ("word_start_clamped", 3))
    repairs: tuple = ()
    encoding: str = ""  # the subtitle file's text encoding ("utf-8", "cp1252", ...); "" for ASR
    # dialogue turns (dashes, speaker labels, voice spans) of uploaded subtitles: sorted
    # (index of the turn's first word, speaker or ""), one wherever the turn changes
    turns: tuple = ()


class Sentence(NamedTuple):
    text: str
    start: float
    end: float
    num_words: int
    # which segmenter produced the boundary: "given" (text was punctuated), "punctuators:<model>",
    # or "pause" (fallback on pauses and length, see curate.text.sentences)
    segmenter: str = "given"
    speaker: str = ""  # who says it, where the subtitles name the speaker ("Name:", <v Name>), else ""


class ClipSpan(NamedTuple):
    """A planned clip: a span of a video at one scale, cut at sentence boundaries."""

    video_id: str
    scale: str  # one of SCALES
    index: int  # position within (video_id, scale), from 0, in order of time
    start: float
    end: float
    sentences: tuple  # tuple[Sentence, ...]

    @property
    def key(self) -> str:
        return clip_key(self.video_id, self.scale, self.index)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def subtitle(self) -> str:
        return " ".join(s.text for s in self.sentences)


class Clip(NamedTuple):
    """A clip as written to a shard and to clips.parquet (one row of CLIP_SCHEMA)."""

    key: str
    video_id: str
    scale: str
    index: int
    start: float
    end: float
    duration: float
    subtitle: str
    sentences: tuple  # tuple[Sentence, ...]
    num_words: int
    caption: Optional[str] = None  # LLM summary of the frame captions
    subtitle_summary: Optional[str] = None  # LLM summary of the subtitle (medium, long and video clips)
    frame_captions: tuple = ()  # BLIP-2 captions of the sampled frames, in order of time
    frame_times: tuple = ()  # times (s, source video) of those frames
    category: str = ""
    source_height: Optional[int] = None
    height: Optional[int] = None  # of the cut clip
    width: Optional[int] = None
    transcript_source: str = ""
    transcript_repairs: tuple = ()  # the video's Transcript.repairs: ((kind, count), ...)
    url: str = ""
    shard: str = ""
    schema_version: str = SCHEMA_VERSION


class Failure(NamedTuple):
    """A dropped video or clip: one line of failures.jsonl."""

    video_id: str
    stage: str  # e.g. "probe", "download", "transcript", "cut", "caption"
    reason: str  # short machine-readable reason, e.g. "below_720p", "http_429"
    detail: str = ""  # the human-readable error text (e.g. yt-dlp's own message)
    key: str = ""  # the clip key when a single clip was dropped


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_id(video_id: str) -> str:
    """The video id as a file-name- and key-safe string: only [A-Za-z0-9_-]; a short hash of the raw
    id keeps sanitised ids that collide apart (so "../x" and "__x" differ)."""
    import hashlib

    safe = _UNSAFE.sub("_", video_id)
    if safe != video_id:
        safe = f"{safe}_{hashlib.sha1(video_id.encode()).hexdigest()[:8]}"
    return safe


def clip_key(video_id: str, scale: str, index: int) -> str:
    """Deterministic WebDataset key. WebDataset splits keys at the first '.', so ids are sanitised
    (safe_id)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {SCALES}")
    return f"{safe_id(video_id)}_{scale}_{index:05d}"
