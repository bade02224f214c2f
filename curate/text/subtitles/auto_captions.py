"""Rolling captions -> words: YouTube's automatic captions (WebVTT with ``<time><c>`` word tags and
10 ms transition cues, or their SRT export) and other roll-up captions, each word taken once.
The whole-file fast path for the usual tagged lines (_tagged_lines_at_once) is the text core's
hot path.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections import Counter
from typing import Optional

import numpy as np

from curate.text.inline_times import INLINE_TIME as _INLINE_TIME
from curate.text.subtitles.cleaning import (
    _PUNCTUATION,
    _has_cleaned_mark,
    _has_punctuation_word,
    _needs_cleaning,
    clean_text,
)
from curate.text.subtitles.cues import Cues
from curate.text.subtitles.layout import _TRANSITION_CUE_SECONDS
from curate.text.words import WordCollector, fixed_stamps_to_seconds, parse_time

_NON_TIME_TAG = re.compile(r"<(?![\d])[^<>]*>")  # <c>, </c>, <c.color>: every tag but a timestamp


def auto_caption_words(
    cues: Cues, origin: str, video_id: str, repairs: Counter, *, estimate_ends: bool = True
) -> tuple:
    """One word sequence from YouTube's rolling automatic captions, each word exactly once.

    A line carrying ``<time><c>`` tags is new speech: its first word starts at the cue start, the
    others at their tags. A line without tags repeats the line before it (rolling up), except a
    line that differs from the last new line in a cue longer than a transition cue (a one-word
    line has no tags): that is new speech spread over the cue, until the next new line starts.
    A cue showing the last new line twice ("Yeah." / "Yeah.", two speakers) has new speech in
    the second. Other roll-up captions are read the same way (estimate_ends False: their words
    are spread over their cues, not timed one by one).
    """
    collected = WordCollector(origin, video_id, repairs)
    _collect_caption_words(cues, collected)
    # finished here, once the per-line records above are gone: fewer objects alive for the garbage
    # collector to go through while the words are made
    return collected.finish(estimate_ends=estimate_ends)


def _collect_caption_words(cues: Cues, collected: WordCollector) -> None:
    candidates = []  # (line, cue start, cue end, tagged): every line that may be new speech
    for start, end, text in zip(*cues):
        transition = end - start <= _TRANSITION_CUE_SECONDS
        if transition and "<" not in text:
            continue  # nothing but lines already shown
        for line in text.split("\n"):
            if "<" in line and _INLINE_TIME.search(line):
                candidates.append((line, start, end, True))
            elif not transition and line.strip():
                candidates.append((line, start, end, False))
    tagged = [entry for entry in candidates if entry[3]]
    at_once, fast = _tagged_lines_fast(tagged)
    if at_once is not None:
        words, starts, latest_ends, offsets = at_once
        plain_lines = [" ".join(words[a:b]) for a, b in zip(offsets, offsets[1:])]
        if fast is not None:  # only some lines went at once: at_once line fast[k] is line k
            plain_lines, joined = [_plain_caption_line(entry[0]) for entry in tagged], plain_lines
            for k, line in enumerate(fast):
                plain_lines[line] = joined[k]
            fast = dict(zip(fast, range(len(fast))))
    else:
        plain_lines = [_plain_caption_line(entry[0]) for entry in tagged]
    new_lines = []  # (tagged line number, or the plain text of an untagged line, cue start, cue end)
    last_line: Optional[str] = None
    repeat_start = repeat_end = None  # the cue whose line repeated last_line
    n_tagged = 0
    for line, start, end, is_tagged in candidates:
        if is_tagged:
            new_lines.append((n_tagged, start, end))
            last_line = plain_lines[n_tagged]
            n_tagged += 1
            continue
        plain = line if line == last_line else clean_text(line)  # most untagged lines are rolled up
        if not plain:
            continue
        if plain == last_line:
            if start != repeat_start or end != repeat_end:
                repeat_start, repeat_end = start, end  # the rolled-up line
                continue
            # shown a second time in the same cue: said again
        new_lines.append((plain, start, end))
        last_line = plain
    if at_once is not None and fast is None and len(new_lines) == len(tagged):
        collected.extend(words, starts, latest_ends)
        return
    for k, (what, start, end) in enumerate(new_lines):
        if isinstance(what, str):
            # an untagged line lasts until the next new line (cues exported as SRT overlap)
            until = min(end, new_lines[k + 1][1]) if k + 1 < len(new_lines) else end
            collected.add(what.split(), start, max(until, start))
            continue
        line = what if fast is None else fast.get(what)
        if at_once is not None and line is not None:
            a, b = offsets[line], offsets[line + 1]
            collected.extend(words[a:b], starts[a:b], latest_ends[a:b])
        else:
            _add_tagged_line(collected, tagged[what][0], start, end)


def _plain_caption_line(line: str) -> str:
    """The words of a tagged caption line as its rolled-up repeat shows them."""
    parts = line.replace("<c>", "").replace("</c>", "").replace(">", "<").split("<")
    stamps = parts[1::2]
    if len("".join(stamps)) != 12 * len(stamps):  # other markup than the usual tags
        return " ".join(clean_text(line).split())
    text = " ".join(parts[0::2])
    return " ".join((clean_text(text) if _needs_cleaning(text) else text).split())


def _add_tagged_line(collected: WordCollector, line: str, cue_start: float, cue_end: float) -> None:
    """One caption line with timing tags, whatever it holds (markup, several words per tag)."""
    pieces = _INLINE_TIME.split(_NON_TIME_TAG.sub("", line))  # [text, time, text, time, ...]
    texts = [clean_text(p) for p in pieces[0::2]]
    starts = [cue_start] + [parse_time(t) for t in pieces[1::2]]
    last = len(texts) - 1
    for k, (piece, start) in enumerate(zip(texts, starts)):
        collected.add(piece.split(), start, starts[k + 1] if k < last else max(cue_end, start))


def _tagged_lines_fast(tagged: list) -> tuple[Optional[tuple], Optional[list]]:
    """(_tagged_lines_at_once of the tagged caption lines, None); when some line needs more (markup
    to clean, two words at one time), (_tagged_lines_at_once of the other lines, their numbers), so
    that real captions with a "[Music]" or a "-" here and there still take the fast path for most
    lines; (None, None) when that fails too."""
    if not tagged:
        return None, None
    at_once = _tagged_lines_at_once(tagged)
    if at_once is not None:
        return at_once, None
    # without their <c> tags (and styling such as <c.colorE5E5E5>), as _add_tagged_line reads them
    bare = _NON_TIME_TAG.sub("", "\n".join(map(operator.itemgetter(0), tagged)))
    marks = [m.start() for m in _NEEDS_CARE.finditer(bare)]
    newlines = [m.start() for m in _NEWLINE.finditer(bare)]
    careful = set(np.searchsorted(newlines, marks).tolist())  # the lines the marks are on
    fast = [k for k in range(len(tagged)) if k not in careful]
    lines = bare.split("\n")
    at_once = _tagged_lines_at_once([(lines[k], *tagged[k][1:]) for k in fast]) if fast else None
    return (at_once, fast) if at_once is not None else (None, None)


# what _tagged_lines_at_once cannot take in a line without its <c> and </c>: a tag other than
# <hh:mm:ss.ttt>, a mark clean_text acts on, two words between tags, or none (or only punctuation)
_NEEDS_CARE = re.compile(
    r"<(?!\d\d:\d\d:\d\d\.\d\d\d>)|(?<!\.\d\d\d)>|:(?!\d\d[:.]\d)|[&\[\](){*\-\\\xa0♪♫♬。！？]"
    rf"|(?:^|>)[ \t]*[^<\s]+[ \t]+[^<\s]|(?:^|>)[ \t]*(?:[{_PUNCTUATION}]+[ \t]*)?(?:<|$)",
    re.M,
)
_NEWLINE = re.compile("\n")


def _tagged_lines_at_once(entries: list) -> Optional[tuple]:
    """(words, starts, latest ends, index of each line's first word + [len(words)]) of all tagged
    caption lines at once, when every line is the usual ``word<hh:mm:ss.ttt><c> word</c>...`` (one
    word per tag, no other markup, nothing to clean); None otherwise (then _add_tagged_line takes
    each line). The text core's hot path: str methods and numpy on the whole text, no Python step
    per word."""
    bare = "\n".join(map(operator.itemgetter(0), entries)).replace("<c>", "").replace("</c>", "")
    delimited = bare.replace(">", "<")
    parts = delimited.split("<")  # text, stamp, text, stamp, ... across the lines
    texts, stamps = parts[0::2], parts[1::2]
    stamp_seconds = fixed_stamps_to_seconds(stamps)
    if stamp_seconds is None or bare.count("<") != len(stamps) or bare.count(">") != len(stamps):
        return None
    text = " ".join(texts)
    words = text.split()
    # one word between two tags or a tag and a line's end: as many words as such pieces, none blank
    pieces = "\n".join(texts).split("\n")
    if (
        len(words) != len(stamps) + len(entries)
        or _has_cleaned_mark(text)
        or _has_punctuation_word(words)
        or not all(pieces)
        or any(map(str.isspace, pieces))
    ):
        return None
    # so each line has a first word at the cue start and one more word per stamp (two delimiters)
    lines = delimited.split("\n")
    delimiters = np.fromiter(map(str.count, lines, itertools.repeat("<")), np.int64, len(lines))
    offsets = np.concatenate(([0], np.cumsum(delimiters // 2 + 1)))  # each line's first word, len(words)
    is_first = np.zeros(len(words), bool)
    is_first[offsets[:-1]] = True
    starts = np.empty(len(words))
    starts[is_first] = [entry[1] for entry in entries]
    starts[~is_first] = stamp_seconds
    latest_ends = np.full(len(words), np.inf)
    latest_ends[offsets[1:] - 1] = [entry[2] for entry in entries]
    return words, starts.tolist(), latest_ends.tolist(), offsets.tolist()
