"""Sentences with times from a transcript's timed words.

Three segmenters, recorded in ``Sentence.segmenter``:

* ``"given"``: the text is already punctuated (uploaded subtitles, Whisper): split after words
  ending in a sentence end of any script (curate.text.words.SENTENCE_END_MARKS: ``.``, ``?``,
  ``!``, ``…``, the Chinese and Japanese ``。！？``, the Arabic ``؟``, the danda ``।``, ...; not after
  common abbreviations such as "Mr." or "e.g."), and where a dialogue turn starts. A sentence
  longer than ``max_seconds`` (song lyrics, sparsely punctuated captions) is cut at its longest
  silence if that is at least ``min_pause``, else after the comma nearest its middle, else at its
  longest silence, until it fits.
* ``"punctuators:<model>"``: a punctuation model restores punctuation and sentence boundaries of
  the whole text; the sentences are then DTW-aligned to the timed words (curate.text.align).
* ``"pause"``: the documented fallback when the text is unpunctuated and no model is available.
  1. cut wherever the silence between two words is at least ``min_pause`` seconds;
  2. a piece with more than ``max_words`` words or longer than ``max_seconds`` is cut at its
     longest silence, again and again, until it fits;
  3. a piece with fewer than ``min_words`` words joins the neighbour it is closer to in time
     (unless that would break the bounds of step 2, or join two dialogue turns).
  A dialogue turn (Transcript.turns) always starts a sentence here too.
  Silence is measured from a word's end to the next word's start; for automatic captions the end
  is estimated (see curate.text.words.WordCollector.finish).

A sentence of the given and pause segmenters gets the speaker of the turn it starts in, where the
subtitles name one (Transcript.turns); the punctuators path leaves it empty.
"""

from __future__ import annotations

import bisect
import operator
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from curate.text.align import align_sentences
from curate.text.words import CLOSING_MARKS, COMMA_MARKS, SENTENCE_END_MARKS, TranscriptError, join_words
from schemas import Sentence, TimedWord, Transcript

_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr vs etc e.g i.e a.m p.m u.s no approx dept fig inc ltd co".split()
)


@dataclass(frozen=True)
class PauseSegmenter:
    """Settings of the fallback segmenter, and the length cap of given sentences (see the module
    docstring)."""

    min_pause: float = 0.35  # seconds of silence that end a sentence
    min_words: int = 3  # shorter pieces join a neighbour (if the result is not too long)
    max_words: int = 40  # longer pieces are cut at their longest silence (HD-VILA: 32.5 words mean)
    # ... and so are pieces spoken for longer than this; given sentences longer than this are cut
    # too (VidLA's short clips are at most 25 s)
    max_seconds: float = 20.0


def ends_sentence(text: str) -> bool:
    text = text.rstrip(CLOSING_MARKS)
    if not text.endswith(SENTENCE_END_MARKS):
        return False
    if text.endswith("."):
        stem = text.lower().rstrip(".")
        if stem in _ABBREVIATIONS or (len(stem) == 1 and stem.isalpha()):
            return False
    return True


def punctuated_spans(words: Sequence[TimedWord], breaks: Sequence[int] = ()) -> list[tuple[int, int]]:
    """[start, stop) word ranges of the sentences of punctuated text; a sentence also ends before
    each word index in ``breaks`` (where a dialogue turn starts)."""
    spans, start = [], 0
    breaks = set(breaks)
    for i, word in enumerate(words):
        if breaks and i in breaks and i > start:
            spans.append((start, i))
            start = i
        if ends_sentence(word.text):
            spans.append((start, i + 1))
            start = i + 1
    if start < len(words):
        spans.append((start, len(words)))
    return spans


def capped_spans(
    words: Sequence[TimedWord], spans: list, config: PauseSegmenter = PauseSegmenter()
) -> list[tuple[int, int]]:
    """The spans, each longer than config.max_seconds cut (module docstring: "given")."""
    if not any(words[b - 1].end - words[a].start > config.max_seconds for a, b in spans):
        return spans
    gaps = _gaps(words).tolist()
    out: list[tuple[int, int]] = []
    stack = spans[::-1]
    while stack:
        a, b = stack.pop()
        if b - a < 2 or words[b - 1].end - words[a].start <= config.max_seconds:
            out.append((a, b))
            continue
        middle = (a + b - 2) / 2
        inside = range(a, b - 1)  # cut after word i
        longest = max(inside, key=lambda i: (gaps[i], -abs(i - middle)))
        commas = [i for i in inside if words[i].text.rstrip(CLOSING_MARKS).endswith(COMMA_MARKS)]
        if gaps[longest] < config.min_pause and commas:
            longest = min(commas, key=lambda i: abs(i - middle))
        stack += [(longest + 1, b), (a, longest + 1)]
    return out


def _gaps(words: Sequence[TimedWord]) -> np.ndarray:
    """gaps[i]: silence between words[i] and words[i + 1]."""
    starts = np.fromiter(map(operator.itemgetter(1), words), np.float64, len(words))
    ends = np.fromiter(map(operator.itemgetter(2), words), np.float64, len(words))
    return np.maximum(starts[1:] - ends[:-1], 0.0)


def pause_spans(
    words: Sequence[TimedWord], config: PauseSegmenter = PauseSegmenter(), breaks: Sequence[int] = ()
) -> list[tuple[int, int]]:
    """[start, stop) word ranges of the pause segmenter (module docstring); ``breaks``: word
    indices where a dialogue turn starts."""
    if not words:
        return []
    gaps_array = _gaps(words)
    cuts = (np.flatnonzero(gaps_array >= config.min_pause) + 1).tolist()
    if breaks:
        cuts = sorted(set(cuts).union(b for b in breaks if 0 < b < len(words)))
        gaps_array[np.asarray([b - 1 for b in breaks if 0 < b < len(words)], np.int64)] = np.inf
    gaps = gaps_array.tolist()
    spans = list(zip([0] + cuts, cuts + [len(words)]))

    def too_long(a: int, b: int) -> bool:
        return b - a > config.max_words or words[b - 1].end - words[a].start > config.max_seconds

    fitted: list[tuple[int, int]] = []
    stack = spans[::-1]
    while stack:
        a, b = stack.pop()
        if b - a > 1 and too_long(a, b):
            middle = (a + b - 2) / 2  # among equal silences, cut nearest the middle
            cut = max(range(a, b - 1), key=lambda i: (gaps[i], -abs(i - middle))) + 1
            stack += [(cut, b), (a, cut)]
        else:
            fitted.append((a, b))
    merged = list(fitted)
    i = 0
    while len(merged) > 1 and i < len(merged):
        a, b = merged[i]
        if b - a >= config.min_words:
            i += 1
            continue
        # join the closer neighbour, if the joined piece stays within the length bounds
        gap_before = gaps[a - 1] if i > 0 and not too_long(merged[i - 1][0], b) else float("inf")
        gap_after = gaps[b - 1] if i + 1 < len(merged) and not too_long(a, merged[i + 1][1]) else float("inf")
        if gap_before == gap_after == float("inf"):
            i += 1
        elif gap_before <= gap_after:
            merged[i - 1 : i + 1] = [(merged[i - 1][0], b)]
            i -= 1
        else:
            merged[i : i + 2] = [(a, merged[i + 1][1])]
    return merged


def sentences_from_spans(words: Sequence[TimedWord], spans, segmenter: str, turns: Sequence = ()) -> list[Sentence]:
    """Sentences of the [start, stop) word spans; each gets the speaker of the turn (Transcript.turns)
    its first word is in."""
    texts = list(map(operator.itemgetter(0), words))
    turn_starts = [index for index, _ in turns]
    return [
        Sentence(
            text=join_words(texts[a:b]),
            start=words[a].start,
            end=words[b - 1].end,
            num_words=b - a,
            segmenter=segmenter,
            speaker=turns[k][1] if (k := bisect.bisect_right(turn_starts, a) - 1) >= 0 else "",
        )
        for a, b in spans
    ]


def make_sentences(
    transcript: Transcript, punctuator=None, pause_config: PauseSegmenter = PauseSegmenter()
) -> list[Sentence]:
    """The transcript's sentences with start and end times, ordered and not overlapping.
    pause_config: the pause segmenter's settings, and the length cap of given sentences."""
    words = transcript.words
    if not words:
        raise TranscriptError("no_words", f"transcript {transcript.source} has no words", video_id=transcript.video_id)
    turns = transcript.turns
    breaks = [index for index, _ in turns]
    if transcript.punctuated:
        return sentences_from_spans(
            words, capped_spans(words, punctuated_spans(words, breaks), pause_config), "given", turns
        )
    if punctuator is not None:
        texts = punctuator.sentences(" ".join(map(operator.itemgetter(0), words)))
        sentences = align_sentences(texts, words, segmenter=punctuator.segmenter)
        if not sentences:
            raise TranscriptError(
                "no_sentences",
                f"{punctuator.segmenter} found no sentences in {transcript.source} text",
                video_id=transcript.video_id,
            )
        return sentences
    return sentences_from_spans(words, pause_spans(words, pause_config, breaks), "pause", turns)


def clamp_to_duration(sentences: Sequence[Sentence], duration: Optional[float]) -> list[Sentence]:
    """Sentences that start before the video ends, their ends cut at the end of the video."""
    if duration is None:
        return list(sentences)
    return [s if s.end <= duration else s._replace(end=duration) for s in sentences if s.start < duration]
