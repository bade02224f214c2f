"""Timed words: the typed error of the text core, token normalisation, and the checks every
transcript source (subtitles, ASR) goes through before it becomes a schemas.Transcript."""
from __future__ import annotations

import math
import re
import unicodedata
from typing import Iterable, Sequence

from curate.errors import StageError
from schemas import TimedWord, Transcript

# Times past this are not a video's (YouTube's limit is 12 h); they mean a broken file.
MAX_TIME_SECONDS = 24 * 3600.0
# A cue that stays on screen longer than this is not a subtitle but a broken timestamp.
MAX_CUE_SECONDS = 600.0
# Automatic captions give only the start of each word. Its end is the next word's start, but no
# later than this estimate of how long a word can be spoken (generous: ~0.07 s per letter at
# ordinary speech rates, plus onset), so that a pause after a word does not count as the word.
_WORD_ONSET_SECONDS = 0.1
_SECONDS_PER_LETTER = 0.07

_NON_WORD = re.compile(r"[^\w]+")


class TranscriptError(StageError):
    """A subtitle file or ASR output that cannot give a transcript (reason + file + problem)."""


def normalize_token(text: str) -> str:
    """The form tokens are compared in: case-folded, accents and punctuation (apostrophes,
    hyphens) removed, so "Don't," == "dont" and "well-known" == "wellknown"."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NON_WORD.sub("", text).replace("_", "")


def max_word_seconds(text: str) -> float:
    return _WORD_ONSET_SECONDS + _SECONDS_PER_LETTER * len(text)


def spread_times(texts: Sequence[str], start: float, end: float) -> list[tuple[float, float]]:
    """(start, end) of each text when they share [start, end] in proportion to their length
    (letters + 2): how words without their own times are placed within a cue."""
    weights = [len(t) + 2 for t in texts]
    total = float(sum(weights)) or 1.0
    out, position = [], 0.0
    for w in weights:
        out.append((start + (end - start) * position / total, start + (end - start) * (position + w) / total))
        position += w
    if out:
        out[-1] = (out[-1][0], end)
    return out


def check_time(t: float, where: str, *, source: str, video_id: str) -> float:
    if not isinstance(t, (int, float)) or math.isnan(t) or t < 0 or t > MAX_TIME_SECONDS:
        raise TranscriptError("bad_timestamps", f"{source}: absurd time {t!r} at {where}", video_id=video_id)
    return float(t)


def finish_words(
    raw: Iterable[tuple[str, float, float]], *, estimate_ends: bool, source: str, video_id: str
) -> tuple:
    """TimedWords from (text, start, latest_end) in spoken order.

    Starts must not go backwards (that is a broken file, reported). A word ends at its latest_end
    or at the next word's start, whichever is first; with estimate_ends (automatic captions, which
    carry starts only) also no later than max_word_seconds after its start.
    """
    raw = [(t, s, e) for t, s, e in raw if t]
    words = []
    for i, (text, start, latest_end) in enumerate(raw):
        if i and start < raw[i - 1][1] - 1e-6:
            raise TranscriptError(
                "bad_timestamps",
                f"{source}: word {text!r} starts at {start:.3f}s, before the previous word "
                f"({raw[i - 1][0]!r} at {raw[i - 1][1]:.3f}s): overlapping or out-of-order timestamps",
                video_id=video_id,
            )
        end = latest_end
        if i + 1 < len(raw):
            end = min(end, raw[i + 1][1])
        if estimate_ends:
            end = min(end, start + max_word_seconds(text))
        words.append(TimedWord(text, start, max(end, start)))
    return tuple(words)


def looks_punctuated(words: Sequence[TimedWord]) -> bool:
    """True when the text carries sentence punctuation (about one sentence end per 60 words or
    more), so it can be split into sentences directly."""
    ends = sum(1 for w in words if w.text.rstrip("\"')]").endswith((".", "?", "!")))
    return ends >= max(1, len(words) // 60)


def make_transcript(words: tuple, video_id: str, source: str, *, punctuated: bool, language: str,
                    origin: str) -> Transcript:
    if not words:
        raise TranscriptError("no_words", f"{origin}: the transcript has no words", video_id=video_id)
    return Transcript(video_id=video_id, words=words, source=source, punctuated=punctuated, language=language)
