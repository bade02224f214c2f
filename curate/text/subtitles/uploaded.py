"""Uploaded subtitles' cues (WebVTT or SRT; karaoke, paint-on and meeting transcripts included)
-> words and dialogue turns (cue_words): cues put in order, merged when shown together, words
spread over their cues or timed by their tags.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

import numpy as np

from curate.text.inline_times import INLINE_TIME as _INLINE_TIME
from curate.text.inline_times import timed_words
from curate.text.rtl import is_visual_order, to_logical_order
from curate.text.subtitles.cleaning import _ASS_ESCAPE, _ASS_ESCAPED, clean_text
from curate.text.subtitles.cues import Cues
from curate.text.subtitles.layout import _SIMULTANEOUS_SECONDS, _shown_until_next_but_one
from curate.text.turns import may_hold_turns, speaker_labels, split_turns
from curate.text.words import CLOSING_MARKS, SENTENCE_END_MARKS, WordCollector, spread_over_cues

# markup that only styles the text: every tag but timestamps and voice spans, SubStation codes
_STYLE_MARKUP = re.compile(r"<(?!\d|v[\s.>])[^<>]*>|\{[^{}]*\}")


def cue_words(cues: Cues, origin: str, video_id: str, repairs: Counter) -> tuple[tuple, tuple]:
    """(words, turns) of uploaded subtitles, or of automatic captions exported as SRT.

    Each cue's words are spread over the cue in proportion to their length; in a cue with timing
    tags (karaoke, paint-on) each word starts at the tag at or before its first letter
    (curate.text.inline_times). Dialogue dashes, ">>", voice spans and speaker labels start turns
    (curate.text.turns) and are not words; ``turns`` is ((index of a turn's first word, its
    speaker or ""), ...) wherever the turn changes. Right-to-left lines typed in visual order get
    their sentence ends back at their ends (curate.text.rtl, "visual_order_marks_moved").

    Repaired and counted: cues out of order are put in order ("cues_reordered"); cues starting
    together (styled subtitles at several positions on the screen) are merged
    ("simultaneous_cues_merged"). Other overlapping cues are concurrent speech or text (a speaker
    talking over another): each keeps its own start and end and their words are ordered by start.
    Only in YouTube's SRT export of automatic captions, each cue shown until the one after next
    starts, does a cue end where the next one starts ("overlap_trimmed")."""
    starts, ends, texts = cues
    order = range(len(starts))
    if any(b < a for a, b in zip(starts, starts[1:])):
        order = sorted(order, key=starts.__getitem__)
        repairs["cues_reordered"] += sum(1 for a, b in zip(starts, starts[1:]) if b < a)
    trim = _shown_until_next_but_one(cues)
    visual = is_visual_order(texts)
    labels, labelled_throughout = speaker_labels(texts)
    turns = _TurnTracker(labels)
    kept: list[list] = []  # see _cue_words
    concurrent = False
    for i in order:
        text, start, end = texts[i], starts[i], ends[i]
        if visual:
            logical = to_logical_order(text)
            repairs["visual_order_marks_moved"] += logical != text
            text = logical
        cue = _cue_words(text, start, end, turns, repairs)
        if not cue[2]:
            continue
        if not labelled_throughout and turns.speakers[cue[5]] and kept and not cue[7]:
            _end_named_turn(cue, kept[-1], turns)
        if kept and start < kept[-1][1]:
            previous = kept[-1]
            if start - previous[0] < _SIMULTANEOUS_SECONDS and previous[3] is None and cue[3] is None:
                previous[1] = max(previous[1], end)
                previous[6] += [(k + len(previous[2]), turn) for k, turn in cue[6]]
                previous[2] += cue[2]
                repairs["simultaneous_cues_merged"] += 1
                continue
            if trim:
                previous[1] = start
                repairs["overlap_trimmed"] += 1
            else:
                concurrent = True
        kept.append(cue)
    collected = WordCollector(origin, video_id, repairs)
    word_turns = _emit_cue_words(kept, collected, concurrent, turns)
    return collected.finish(estimate_ends=False), word_turns


def _end_named_turn(cue: list, previous: list, turns: "_TurnTracker") -> None:
    """A cue without a mark after a named turn: a label names the speaker of its own lines only
    (unless the file labels every cue), so once the sentence ends the speaker is unknown."""
    last = previous[2][-1].rstrip(CLOSING_MARKS)
    if last.endswith(SENTENCE_END_MARKS):
        turns.speakers.append("")
        cue[6].insert(0, (0, len(turns.speakers) - 1))
        if len(cue[6]) == 1:
            turns.current = len(turns.speakers) - 1


class _TurnTracker:
    """The turns of a file as its cues are read in order: turn 0 is the one before any mark."""

    def __init__(self, labels: frozenset):
        self.labels = labels
        self.speakers = [""]  # of each turn
        self.current = 0

    def enter(self, piece) -> bool:
        """Whether the piece (curate.text.turns.Piece) starts a new turn (then the current one)."""
        if piece.new_turn or (piece.speaker is not None and piece.speaker != self.speakers[self.current]):
            self.speakers.append(piece.speaker or "")
            self.current = len(self.speakers) - 1
            return True
        return False

    def changes(self, starts: list, first: int, n: int) -> tuple:
        """((index, speaker), ...) of n words whose first is in turn ``first`` and where
        ``starts`` ((index, turn), in order; a later one at the same index wins) start turns: one
        wherever the turn changes, and at the first word when its speaker is known."""
        if len(self.speakers) == 1 or not n:
            return ()
        at = dict((index, turn) for index, turn in starts if index < n)
        turn = at.pop(0, first)
        out = [(0, self.speakers[turn])] if self.speakers[turn] else []
        return tuple(out + [(index, self.speakers[turn]) for index, turn in sorted(at.items())])


def _cue_words(text: str, start: float, end: float, turns: _TurnTracker, repairs: Counter) -> list:
    """[start, end, words, word starts (None: spread over the cue), latest ends, the turn the cue
    starts in, [(index of a word, the turn it starts)], whether it starts with a mark or a
    label] of one cue."""
    turn_in = turns.current
    if "\\" in text:  # a forced line break ("\N") starts a line, where a dash or a label may stand
        text = _ASS_ESCAPE.sub(lambda m: _ASS_ESCAPED[m.group()], text)
    if "<" in text or "{" in text:  # "<i>- Hi", "{\an8}- Hi": a dash behind markup is still a dash
        text = _STYLE_MARKUP.sub("", text)
    pieces, marks = [text], []  # the text of each turn in the cue; (piece, turn it starts)
    named = False  # whether the cue starts with a label or a voice span
    if may_hold_turns(text):
        pieces = []
        for piece in split_turns(text, turns.labels):
            named = named or (not pieces and (piece.speaker is not None or piece.new_turn))
            if turns.enter(piece):
                marks.append((len(pieces), turns.current))
                pieces.append(piece.text)
            elif pieces:  # cleaned together, as an annotation may span lines
                pieces[-1] += "\n" + piece.text
            else:
                pieces.append(piece.text)
    timed = "<" in text and _INLINE_TIME.search(text) is not None
    if len(pieces) == 1 and not timed:  # the usual cue
        return [start, end, clean_text(pieces[0]).split(), None, None, turn_in, marks, named]
    words, word_starts, latest_ends, firsts = [], [], [], []
    at = start  # the time of the last tag so far
    for piece in pieces:
        firsts.append(len(words))
        if timed:
            piece_words, piece_starts, piece_ends, at = timed_words(piece, at, end, clean_text, repairs)
            word_starts += piece_starts
            latest_ends += piece_ends
        else:
            piece_words = clean_text(piece).split()
        words += piece_words
    marks = [(firsts[k], turn) for k, turn in marks]
    timing = (word_starts, latest_ends) if timed else (None, None)
    return [start, end, words, *timing, turn_in, marks, named]


def _emit_cue_words(kept: list, collected: WordCollector, concurrent: bool, turns: _TurnTracker) -> tuple:
    """Adds the words of the cues to collected: in cue order, or, when cues overlap, ordered by
    start (each cue's own words stay in their order). Returns the turns of the words."""
    words, counts, changes = [], [], []  # changes: (index of a word, the turn it starts)
    for cue in kept:
        if cue[6]:
            changes += [(len(words) + k, turn) for k, turn in cue[6]]
        words += cue[2]
        counts.append(len(cue[2]))
    starts, latest_ends = spread_over_cues(words, counts, [c[0] for c in kept], [c[1] for c in kept])
    first = 0
    for cue, n in zip(kept, counts):  # words timed by their tags
        if cue[3] is not None:
            word_starts = cue[3]
            if concurrent and any(b < a for a, b in zip(word_starts, word_starts[1:])):
                # kept in order within the cue before the cues are merged (as finish() would)
                word_starts = list(itertools.accumulate(word_starts, max))
                collected.repairs["word_start_clamped"] += sum(a != b for a, b in zip(word_starts, cue[3]))
            starts[first : first + n], latest_ends[first : first + n] = word_starts, cue[4]
        first += n
    if not concurrent:
        collected.extend(words, starts.tolist(), latest_ends.tolist())
        return turns.changes(changes, kept[0][5] if kept else 0, len(words))
    order = np.argsort(starts, kind="stable")
    collected.extend([words[k] for k in order.tolist()], starts[order].tolist(), latest_ends[order].tolist())
    if len(turns.speakers) == 1:
        return ()
    ids = [turn for cue, n in zip(kept, counts) for turn in _word_turns(n, cue[5], cue[6])]
    ids = [ids[k] for k in order.tolist()]
    changes = [(k, b) for k, (a, b) in enumerate(zip(ids, ids[1:]), 1) if a != b]
    return turns.changes(changes, ids[0] if ids else 0, len(ids))


def _word_turns(n: int, turn_in: int, marks: list) -> list:
    """The turn of each of a cue's n words."""
    ids, current, at = [], turn_in, 0
    for index, turn in marks:
        ids += [current] * (min(index, n) - at)
        current, at = turn, min(index, n)
    return ids + [current] * (n - at)
