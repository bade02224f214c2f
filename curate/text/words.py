"""Timed words: the typed error of the text core, token normalisation, and the checks every
transcript source (subtitles, ASR) goes through before it becomes a schemas.Transcript."""

from __future__ import annotations

import itertools
import math
import operator
import re
import unicodedata
from collections import Counter
from typing import Optional, Sequence

import numpy as np

from curate.errors import StageError
from curate.text.invisible import REPAIR as INVISIBLE_REPAIR
from curate.text.invisible import strip_invisible_words
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

# No one speaks this many words per second for long (fast speech is 4-6): a transcript above it is
# not speech but a broken or foreign file.
MAX_WORDS_PER_SECOND = 15.0
_RATE_CHECK_MIN_WORDS = 50
# ... nor within one sentence of at least this many words: a faster one is flagged
# ("sentence_too_fast"), as its words' times cannot be what was said
_SENTENCE_RATE_MIN_WORDS = 5

_NON_WORD = re.compile(r"[^\w\n]+|_")
_ASCII_NON_WORD = bytes(c for c in range(128) if not chr(c).isalnum() and chr(c) != "\n")
# Sentence ends of every script, used wherever sentences are cut: the Latin ones, the Chinese and
# Japanese full-width ones (and the half-width and full-width full stops), the Arabic question mark,
# the Urdu full stop, the Devanagari / Bengali danda and double danda, and the Armenian and Ethiopic
# full stops (and the Ethiopic question mark).
SENTENCE_END_MARKS = (".", "?", "!", "…", "。", "！", "？", "．", "｡", "؟", "۔", "।", "॥", "։", "።", "፧")
# marks inside a sentence that a long one may be cut after: commas, semicolons and colons of those scripts
COMMA_MARKS = (",", ";", ":", "，", "、", "；", "：", "،", "؛", "፣", "፤")
CLOSING_MARKS = "\"')]}»”’」』）"
_SENTENCE_END = re.compile(rf"[{re.escape(''.join(SENTENCE_END_MARKS))}][\"')\]」』）]*(?:\s|$)")
# Chinese and Japanese (Han, kana and their punctuation; not Hangul: Korean puts spaces between
# words) are written without spaces between words.
CJK_CHARS = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_SPACE_BETWEEN_CJK = re.compile(rf"(?<=[{CJK_CHARS}]) (?=[{CJK_CHARS}])")


class TranscriptError(StageError):
    """A subtitle file or ASR output that cannot give a transcript (reason + file + problem)."""


def normalize_tokens(texts: Sequence[str]) -> list[str]:
    """The form tokens are compared in: case-folded, accents and punctuation (apostrophes, hyphens)
    removed, so "Don't," == "dont" and "Café" == "cafe". Texts must hold no newline (words never do);
    done on all of them at once, since this runs for every word of every video."""
    joined = "\n".join(texts).casefold()
    if joined.isascii():  # the usual case, and bytes.translate is much faster than the regex
        return joined.encode("ascii").translate(None, _ASCII_NON_WORD).decode("ascii").split("\n")
    joined = unicodedata.normalize("NFKD", joined)  # accents become combining marks, which \w excludes
    return _NON_WORD.sub("", joined).split("\n")


def normalize_token(text: str) -> str:
    return normalize_tokens([" ".join(text.split())])[0]


def join_words(texts: Sequence[str]) -> str:
    """Words (or lines) as one text: joined by spaces, except between two Chinese or Japanese
    characters, which are written without."""
    text = " ".join(texts)
    return text if text.isascii() else _SPACE_BETWEEN_CJK.sub("", text)


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


def spread_over_cues(texts: Sequence[str], counts: Sequence[int], starts, ends) -> tuple:
    """spread_times of many cues at once (cue k holds the next counts[k] texts and lasts from
    starts[k] to ends[k]): (starts, ends) arrays of the same values, without a Python step per
    word."""
    counts = np.asarray(counts, np.int64)
    cue_starts, cue_ends = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
    weights = np.fromiter(map(len, texts), np.float64, len(texts)) + 2
    after = np.cumsum(weights)  # whole numbers: exact, as spread_times' running sums are
    filled = counts > 0
    firsts, lasts = (np.cumsum(counts) - counts)[filled], (np.cumsum(counts) - 1)[filled]
    base, total = np.zeros(len(counts)), np.zeros(len(counts))
    base[filled] = after[firsts] - weights[firsts]
    total[filled] = after[lasts] - base[filled]
    after -= np.repeat(base, counts)
    word_cue_starts = np.repeat(cue_starts, counts)
    spans, total = np.repeat(cue_ends, counts) - word_cue_starts, np.repeat(total, counts)
    word_starts = word_cue_starts + spans * (after - weights) / total
    word_ends = word_cue_starts + spans * after / total
    word_ends[lasts] = cue_ends[filled]
    return word_starts, word_ends


def check_time(t: float, where: str, *, source: str, video_id: str) -> float:
    if not isinstance(t, (int, float)) or math.isnan(t) or t < 0 or t > MAX_TIME_SECONDS:
        raise TranscriptError("bad_timestamps", f"{source}: absurd time {t!r} at {where}", video_id=video_id)
    return float(t)


def parse_time(stamp: str) -> float:
    """Seconds of "hh:mm:ss.ttt", "mm:ss.ttt" (or with a comma, as SRT writes them), computed from
    whole milliseconds, exactly as stamps_to_seconds does."""
    parts = stamp.replace(",", ".").split(":")
    hours = int(parts[0]) if len(parts) == 3 else 0
    seconds, _, fraction = parts[-1].partition(".")
    millis = int((fraction + "00")[:3]) if fraction else 0
    return (((hours * 60 + int(parts[-2])) * 60 + int(seconds)) * 1000 + millis) / 1000


# where the digits of "hh:mm:ss.ttt" are, and how many milliseconds each is worth
_STAMP_DIGITS = [0, 1, 3, 4, 6, 7, 9, 10, 11]
_STAMP_DIGIT_MILLIS = np.array([36_000_000, 3_600_000, 600_000, 60_000, 10_000, 1_000, 100, 10, 1])
_ZERO, _COLON, _DOT, _COMMA = (np.uint8(ord(c)) for c in "0:.,")


def fixed_stamps_to_seconds(stamps: Sequence[str]) -> Optional[np.ndarray]:
    """Seconds of stamps that all read "hh:mm:ss.ttt" (or with a comma), at once; None if any
    does not."""
    joined = "".join(stamps)
    if len(joined) != 12 * len(stamps) or not joined.isascii():
        return None
    return stamp_chars_to_seconds(np.frombuffer(joined.encode("ascii"), np.uint8).reshape(-1, 12))


def stamp_chars_to_seconds(chars: np.ndarray) -> Optional[np.ndarray]:
    """fixed_stamps_to_seconds of stamps given as an (n, 12) array of ASCII codes."""
    digits = chars[:, _STAMP_DIGITS] - _ZERO  # uint8: what is below "0" wraps round past 9
    if (
        (digits > 9).any()
        or (chars[:, [2, 5]] != _COLON).any()
        or ((chars[:, 8] != _DOT) & (chars[:, 8] != _COMMA)).any()
    ):
        return None
    return (digits.astype(np.int64) @ _STAMP_DIGIT_MILLIS) / 1000


def stamps_to_seconds(stamps: Sequence[str]) -> np.ndarray:
    """parse_time of many stamps at once: the hot path of every parser (one per word)."""
    seconds = fixed_stamps_to_seconds(stamps)
    return seconds if seconds is not None else np.array([parse_time(stamp) for stamp in stamps], np.float64)


class WordCollector:
    """Words in spoken order, kept as parallel lists (the parsers' hot path); finish() checks them
    and makes the TimedWords. Repairs it makes are counted in ``repairs`` (shared with the parser)."""

    def __init__(self, source: str, video_id: str, repairs: Optional[Counter] = None):
        self.source, self.video_id = source, video_id
        self.repairs = Counter() if repairs is None else repairs
        self.texts: list[str] = []
        self.starts: list[float] = []
        self.latest_ends: list[float] = []
        self._stamps: list[str] = []  # starts still as text, converted at once in finish()
        self._stamp_at: list[int] = []

    def add(self, words: Sequence[str], start: float, latest_end: float) -> None:
        """Words said from ``start``, ending by ``latest_end`` (spread over it when several)."""
        if len(words) == 1:
            self.texts.append(words[0])
            self.starts.append(start)
            self.latest_ends.append(latest_end)
        elif words:
            for word, (a, b) in zip(words, spread_times(words, start, latest_end)):
                self.texts.append(word)
                self.starts.append(a)
                self.latest_ends.append(b)

    def extend(self, words: Sequence[str], starts: Sequence[float], latest_ends: Sequence[float]) -> None:
        """Words with their own starts (latest_ends may be inf: "by the next word's start")."""
        self.texts += words
        self.starts += starts
        self.latest_ends += latest_ends

    def add_timed_line(
        self, words: Sequence[str], first_start: float, stamps: Sequence[str], latest_end: float
    ) -> None:
        """A caption line: the first word at first_start, each next one at its stamp ("hh:mm:ss.ttt"),
        the last ending by latest_end."""
        n = len(self.texts)
        self.texts += words
        self.starts.append(first_start)
        self.starts += [math.nan] * len(stamps)
        self._stamp_at += range(n + 1, n + len(words))
        self._stamps += stamps
        self.latest_ends += [math.inf] * (len(words) - 1)
        self.latest_ends.append(latest_end)

    def finish(self, *, estimate_ends: bool) -> tuple:
        """TimedWords. Starts must be sane (else a TranscriptError: a broken file); a start before
        the previous word's (recognizer timing jitter, overlapping cues) is moved up to it and
        counted as a "word_start_clamped" repair. A word ends at its latest end or at the next
        word's start, whichever is first; with estimate_ends (automatic captions carry starts
        only) also no later than max_word_seconds after its start. Without estimate_ends (words
        spread over cues, or ASR), sentences said faster than anyone speaks are counted as
        "sentence_too_fast" (_too_fast_sentences). Invisible characters (curate.text.invisible) are
        taken out of the words, and a word left empty is dropped (both counted as the repair
        "invisible_characters_removed")."""
        if not self.texts:
            return ()
        texts = self.texts
        starts = np.asarray(self.starts, np.float64)
        if self._stamps:
            starts[self._stamp_at] = stamps_to_seconds(self._stamps)
        ends = np.asarray(self.latest_ends, np.float64)  # inf: "by the next word's start"
        # what only decoding made (json3 "\u200b" escapes, HTML entities, ASR text): the subtitle
        # reader took the characters written as such out of the file already
        visible = strip_invisible_words(texts)
        if visible is not None:
            texts, kept, removed = visible
            self.repairs[INVISIBLE_REPAIR] += removed
            starts, ends = starts[kept], ends[kept]
            if not texts:
                return ()
        bad = np.flatnonzero(~np.isfinite(starts) | (starts < 0) | (starts > MAX_TIME_SECONDS) | np.isnan(ends))
        if bad.size:
            i = int(bad[0])
            raise TranscriptError(
                "bad_timestamps",
                f"{self.source}: absurd time for word {texts[i]!r}: {starts[i]!r}",
                video_id=self.video_id,
            )
        if (starts[1:] < starts[:-1]).any():
            ordered = np.maximum.accumulate(starts)
            # (a rounding error in a spread is no repair)
            self.repairs["word_start_clamped"] += int(np.count_nonzero(ordered - starts > 1e-6))
            starts = ordered
        ends[:-1] = np.minimum(ends[:-1], starts[1:])
        if estimate_ends:
            letters = np.fromiter(map(len, texts), np.float64, len(texts))
            ends = np.minimum(ends, starts + _WORD_ONSET_SECONDS + _SECONDS_PER_LETTER * letters)
        ends = np.maximum(ends, starts)
        if not estimate_ends and len(self.texts) >= _SENTENCE_RATE_MIN_WORDS:
            self.repairs["sentence_too_fast"] += _too_fast_sentences(self.texts, starts, ends)
        # tuple.__new__ is what TimedWord._make does, without a Python call per word
        return tuple(map(tuple.__new__, itertools.repeat(TimedWord), zip(texts, starts.tolist(), ends.tolist())))


def _too_fast_sentences(texts: list, starts: np.ndarray, ends: np.ndarray) -> int:
    """How many sentences (words up to one ending in a sentence mark) of _SENTENCE_RATE_MIN_WORDS
    or more come faster than MAX_WORDS_PER_SECOND."""
    # A sentence of n = 5q + r words (r < 5) holds q disjoint runs of 5 words whose spans add up to
    # at most its length: said faster than 15 words/s, one of them is shorter than
    # (5q + 4) / (15q) <= 0.6 s. Only the sentences around such runs (rare) are looked at.
    m = _SENTENCE_RATE_MIN_WORDS
    fast_runs = np.flatnonzero((ends[m - 1 :] - starts[: len(starts) - m + 1]) < (2 * m - 1) / MAX_WORDS_PER_SECOND)
    flagged, last_stop = 0, 0
    for run in fast_runs.tolist():
        if run < last_stop:
            continue  # in the sentence looked at last
        first = run
        while first > last_stop and not texts[first - 1].rstrip(CLOSING_MARKS).endswith(SENTENCE_END_MARKS):
            first -= 1
        stop = run + 1
        while stop < len(texts) and not texts[stop - 1].rstrip(CLOSING_MARKS).endswith(SENTENCE_END_MARKS):
            stop += 1
        n = stop - first
        flagged += bool(n >= m and n > MAX_WORDS_PER_SECOND * (ends[stop - 1] - starts[first]))
        last_stop = stop
    return flagged


def looks_punctuated(words: Sequence[TimedWord]) -> bool:
    """True when the text carries sentence punctuation (about one sentence end per 60 words or
    more), so it can be split into sentences directly."""
    ends = len(_SENTENCE_END.findall(" ".join(map(operator.itemgetter(0), words))))
    return ends >= max(1, len(words) // 60)


def check_speech_rate(words: Sequence[TimedWord], origin: str, video_id: str) -> None:
    """A TranscriptError when the words come faster than anyone speaks (MAX_WORDS_PER_SECOND)."""
    if len(words) < _RATE_CHECK_MIN_WORDS:
        return
    seconds = max(words[-1].end - words[0].start, 1.0)
    if len(words) > MAX_WORDS_PER_SECOND * seconds:
        raise TranscriptError(
            "absurd_speech_rate",
            f"{origin}: {len(words)} words in {seconds:.1f}s ({len(words) / seconds:.0f} words/s; "
            f"speech stays below {MAX_WORDS_PER_SECOND:.0f})",
            video_id=video_id,
        )


def make_transcript(
    words: tuple,
    video_id: str,
    source: str,
    *,
    punctuated: bool,
    language: str,
    origin: str,
    repairs: Optional[Counter] = None,
    encoding: str = "",
    turns: tuple = (),
) -> Transcript:
    """The checked Transcript (no words or an absurd speech rate: a TranscriptError); ``repairs``
    (kind -> count) is recorded in it, sorted by kind."""
    if not words:
        raise TranscriptError("no_words", f"{origin}: the transcript has no words", video_id=video_id)
    check_speech_rate(words, origin, video_id)
    return Transcript(
        video_id=video_id,
        words=words,
        source=source,
        punctuated=punctuated,
        language=language,
        repairs=tuple(sorted((kind, n) for kind, n in (repairs or {}).items() if n)),
        encoding=encoding,
        turns=turns,
    )
