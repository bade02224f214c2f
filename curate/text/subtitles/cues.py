"""Cue blocks -> timed cues, shared by WebVTT and SRT: blocks split at blank lines, cue ids and
timing lines read (fast for the fixed layout YouTube writes), stray lines and broken timing lines
repaired and counted, and cue times with one broken time repaired.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

import numpy as np

from curate.text.inline_times import short_fractions
from curate.text.subtitles.reading import _MAX_UNREADABLE_SHARE
from curate.text.words import (
    MAX_CUE_SECONDS,
    MAX_TIME_SECONDS,
    TranscriptError,
    stamp_chars_to_seconds,
    stamps_to_seconds,
)

_TIME = r"(?:\d+:)?\d{1,2}:\d{1,2}[.,]\d{1,3}"
_TIMING_LINE = re.compile(rf"^[ \t]*({_TIME})[ \t]*-->[ \t]*({_TIME})(?:[ \t].*)?$")

# what _fixed_cue_times expects between and after the times, as ASCII codes
_ARROW = np.frombuffer(b" --> ", np.uint8)
_SPACE, _TAB = ord(" "), ord("\t")

# A timestamp this far outside its neighbours' range is a typo (see _out_of_line); a time replacing
# it is estimated from the cue's text at subtitle reading speed.
_TYPO_SECONDS = 1.0
_SPOKEN_SECONDS, _SECONDS_PER_CHARACTER = 0.5, 0.06


class Cues(NamedTuple):
    """A file's cues as parallel lists (cue k is number k + 1 in error messages). Kept as columns
    of plain str and float, not a record and a list of lines per cue: those would be ~1000 more
    objects per video for the garbage collector to track."""

    starts: list  # float seconds
    ends: list
    texts: list  # each cue's raw text lines joined by "\n", markup included


def _fixed_cue_times(timing_lines: list[str]):
    """(starts, ends) when every line reads "hh:mm:ss.ttt --> hh:mm:ss.ttt[ settings]" (YouTube
    and yt-dlp always write them so), read by slicing instead of a regex; else None."""
    heads = "".join([(line + " ")[:30] for line in timing_lines])  # the times and one more character
    if len(heads) != 30 * len(timing_lines) or not heads.isascii():
        return None
    chars = np.frombuffer(heads.encode("ascii"), np.uint8).reshape(-1, 30)
    if (chars[:, 12:17] != _ARROW).any() or ((chars[:, 29] != _SPACE) & (chars[:, 29] != _TAB)).any():
        return None
    starts = stamp_chars_to_seconds(chars[:, :12])
    ends = stamp_chars_to_seconds(chars[:, 17:29])
    return None if starts is None or ends is None else (starts, ends)


def _blocks(text: str, separator: str) -> list[str]:
    return [b for b in re.split(separator, text.strip("\n")) if b.strip()]


def _raw_cues(blocks: list[str], repairs: Counter) -> tuple[list, list, list, list]:
    """(block number, timing line and text of each cue; unreadable blocks as (number, first line))
    of the blank-line separated blocks (numbered from 1).

    A block is an optional cue id (or number) and a timing line, then the text. Repaired on the
    way and counted: whitespace-only lines before a cue (the WebVTT spec allows them), stray cue
    numbers ("154\n155\n00:10:55,333 --> ..."), two cues without a blank line between them, and
    text without a timing line (a cue's text broken by a blank line): it joins the cue before.
    Parallel lists, not a record per cue: fewer objects for the garbage collector."""
    numbers, timings, bodies, unreadable = [], [], [], []
    orphan = ""  # text without a timing line before the first cue: it joins the first cue
    for number, block in enumerate(blocks, 1):
        first, _, rest = block.partition("\n")
        if "-->" in first and "-->" not in rest:  # the usual block: timing line, text
            numbers.append(number)
            timings.append(first)
            bodies.append(rest)
            continue
        lines = block.split("\n")
        while not lines[0].strip():
            lines.pop(0)
        if lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        at = [i for i, line in enumerate(lines) if "-->" in line]
        # what stands before the (first) timing line, its cue id aside: stray cue numbers, or text
        # without a timing line of its own (all of a block without one)
        stray = lines[: max(at[0] - 1, 0)] if at else lines
        if stray and all(line.strip().isdigit() for line in stray):
            repairs["stray_cue_number_skipped"] += 1
        elif stray:
            unreadable.append((number, stray[0]))
            repairs["text_without_timing_joined"] += 1
            if bodies:
                bodies[-1] += "\n" + "\n".join(stray)
            else:
                orphan += "\n".join(stray) + "\n"
        for k, t in enumerate(at):
            stop = at[k + 1] if k + 1 < len(at) else len(lines)
            if k + 1 < len(at):
                repairs["cues_without_blank_line_split"] += 1
                if stop - 1 > t and lines[stop - 1].strip().isdigit():
                    stop -= 1  # the next cue's number
            numbers.append(number)
            timings.append(lines[t])
            bodies.append("\n".join(lines[t + 1 : stop]))
    if orphan and bodies:
        bodies[0] = orphan + bodies[0]
    return numbers, timings, bodies, unreadable


def _timed_cues(raw: tuple, *, origin: str, video_id: str, repairs: Counter) -> Cues:
    """The cues of _raw_cues whose timing lines read, their times repaired (_repair_cue_times); the
    text of a cue with a broken timing line joins the cue before (counted). Raises when more than
    _MAX_UNREADABLE_SHARE of the blocks are unreadable, when a time is absurd, or when no cue is
    left."""
    numbers, timings, bodies, unreadable = raw
    times = _fixed_cue_times(timings)
    if times is None:
        matches = [_TIMING_LINE.match(line) for line in timings]
        if None in matches:  # the text of a cue with a broken timing line joins the cue before
            broken = [(n, line) for n, line, m in zip(numbers, timings, matches) if m is None]
            repairs["broken_timing_line_joined"] += len(broken)
            unreadable = sorted(unreadable + broken)
            kept = [k for k, m in enumerate(matches) if m is not None]
            joined = [bodies[a:b] for a, b in zip(kept, kept[1:] + [len(bodies)])]
            if kept and kept[0] > 0:
                joined[0] = bodies[: kept[0]] + joined[0]
            bodies = ["\n".join(texts) for texts in joined]
            numbers = [numbers[k] for k in kept]
            matches = [matches[k] for k in kept]
        stamps = [stamp for m in matches for stamp in m.groups()]
        repairs["short_time_fraction"] += short_fractions(stamps)
        times = stamps_to_seconds(stamps).reshape(-1, 2).T if stamps else (np.empty(0), np.empty(0))
    total = len(numbers) + len(unreadable)
    if unreadable and (len(unreadable) > _MAX_UNREADABLE_SHARE * total or not numbers):
        number, line = unreadable[0]
        last = max(numbers + [n for n, _ in unreadable])
        raise TranscriptError(
            "subtitle_truncated" if number == last and len(unreadable) == 1 and numbers else "subtitle_malformed",
            f"{origin}: {len(unreadable)} of {total} blocks have no readable timing line "
            f"(first: block {number}, {line[:60]!r})",
            video_id=video_id,
        )
    starts, ends = np.asarray(times[0], np.float64), np.asarray(times[1], np.float64)
    absurd = (starts > MAX_TIME_SECONDS) | (ends > MAX_TIME_SECONDS)
    if absurd.any():
        n = int(np.argmax(absurd))
        raise TranscriptError(
            "bad_timestamps",
            f"{origin}: cue {n + 1} (block {numbers[n]}) has an absurd time ({starts[n]:.0f}-{ends[n]:.0f}s)",
            video_id=video_id,
        )
    keep = _repair_cue_times(starts, ends, bodies, repairs)
    if keep is not None:
        if not keep.any():
            n = int(np.argmin(keep))
            raise TranscriptError(
                "bad_timestamps",
                f"{origin}: cue {n + 1} (block {numbers[n]}) has unusable times ({starts[n]:.3f} --> {ends[n]:.3f}s)",
                video_id=video_id,
            )
        bodies = [body for body, k in zip(bodies, keep.tolist()) if k]
        starts, ends = starts[keep], ends[keep]
    return Cues(starts.tolist(), ends.tolist(), bodies)


def _out_of_line(times: np.ndarray) -> np.ndarray:
    """Where a time is more than _TYPO_SECONDS outside the range of its two neighbours in file
    order while those two are in order: a typo in one timestamp ("00:14,708 --> 00:03:16,415"
    between cues at 3:02 and 3:18), not a cue in the wrong place (then both its times are)."""
    out = np.zeros(len(times), bool)
    if len(times) >= 3:
        before, time, after = times[:-2], times[1:-1], times[2:]
        out[1:-1] = (before <= after) & ((time < before - _TYPO_SECONDS) | (time > after + _TYPO_SECONDS))
    return out


def _repair_cue_times(starts: np.ndarray, ends: np.ndarray, texts: list, repairs: Counter) -> np.ndarray:
    """Repairs (in place) cues with one broken time: an end before the start, a cue lasting longer
    than MAX_CUE_SECONDS, or a start out of line with its neighbours (_out_of_line). The time that
    fits is kept and the other estimated from it and the cue's text length ("cue_time_repaired").
    Returns which cues to keep (None: all): a broken cue whose times are both out of line is
    dropped ("broken_cue_dropped"); a cue whose times are both out of line is in the wrong place.

    An end out of line alone is no typo: a long cue shown while short ones come and go (a speaker
    talking over another, a sign on screen) ends after them."""
    broken = (ends < starts) | (ends - starts > MAX_CUE_SECONDS)
    bad_start, bad_end = _out_of_line(starts), _out_of_line(ends)
    fix_start = bad_start & ~bad_end
    fix_end = broken & ~bad_start
    drop = broken & bad_start & bad_end
    if fix_start.any() or fix_end.any():
        lengths = np.array([_SPOKEN_SECONDS + _SECONDS_PER_CHARACTER * len(t) for t in texts])
        starts[fix_start] = np.maximum(ends[fix_start] - lengths[fix_start], 0.0)
        ends[fix_end] = starts[fix_end] + lengths[fix_end]
        repairs["cue_time_repaired"] += int(np.count_nonzero(fix_start | fix_end))
    if not drop.any():
        return None
    repairs["broken_cue_dropped"] += int(np.count_nonzero(drop))
    return ~drop
