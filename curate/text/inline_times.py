"""Inline timestamps in the cues of uploaded WebVTT: karaoke and paint-on captions.

YouTube's automatic captions put a ``<hh:mm:ss.ttt>`` tag before each word (see
curate.text.subtitles); karaoke captions put one before each syllable ("A<00:21.525>ma<00:22.356>zing")
and CEA-608 paint-on captions converted to WebVTT one every few characters. There a tag is a timing
mark inside the text, not a word boundary: the words are those a viewer reads once the tags are gone,
and each starts at the tag at or before its first letter (the cue start when there is none).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from typing import Callable

from curate.text.words import parse_time

INLINE_TIME = re.compile(r"<((?:\d+:)?\d{1,2}:\d{1,2}[.,]\d{1,3})>")
_OTHER_TAG = re.compile(r"<(?!\d)[^<>]*>")  # <c>, </c>, <i>: every tag but a timestamp


def short_fractions(stamps) -> int:
    """How many of the stamps give their seconds' fraction in fewer than three digits ("02.82",
    "2,5"): read as hundredths and tenths, and counted as a repair."""
    return sum(1 for s in stamps if len(s) - max(s.rfind("."), s.rfind(",")) < 4)


def timed_words(text: str, cue_start: float, cue_end: float, clean: Callable, repairs: Counter) -> tuple:
    """(words, starts, latest ends, the time of the last tag) of a cue's text with timing tags,
    cleaned by ``clean``. A word's latest end is the next word's start; the last word's is a tag
    after its last letter (a karaoke line marks when singing stops), else the cue end."""
    pieces = INLINE_TIME.split(_OTHER_TAG.sub("", text) if ">" in text else text)
    texts, stamps = pieces[0::2], pieces[1::2]
    repairs["short_time_fraction"] += short_fractions(stamps)
    times = [cue_start] + [parse_time(s) for s in stamps]
    offsets = [0]  # where the text after each tag starts
    for piece in texts[:-1]:
        offsets.append(offsets[-1] + len(piece))
    raw = "".join(texts)
    words = clean(raw).split()
    starts, position = [], 0
    for word in words:
        letters = [ch for ch in word if ch.isalnum()] or [word[0]]
        first = raw.find(letters[0], position)
        first = position if first < 0 else first
        position = first + 1
        for ch in letters[1:]:  # past the rest of the word, across the tags inside it
            found = raw.find(ch, position)
            position = position if found < 0 else found + 1
        starts.append(times[bisect.bisect_right(offsets, first) - 1])
    after_last = bisect.bisect_left(offsets, position)  # the first tag after the last word's letters
    last_end = times[after_last] if after_last < len(times) else cue_end
    return words, starts, starts[1:] + [max(last_end, starts[-1]) if starts else cue_end], times[-1]
