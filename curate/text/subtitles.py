"""Subtitle files -> timed words: YouTube automatic captions (WebVTT with rolling cues and word
timings, or exported as SRT), uploaded WebVTT and SRT (karaoke and meeting transcripts included),
and YouTube json3.

Real files carry local defects that players shrug off, so these parsers repair what is local and
count every repair by kind (recorded in Transcript.repairs): a text encoding other than UTF-8 (and
which code page was picked when several read the file), a SubRip body under a .vtt name, a stray
line or block without a timing line, a cue with a broken or reversed timing line, a time with one
or two fraction digits, cues out of order, cues shown together (merged) or overlapping (trimmed only
where automatic captions exported as SRT roll; elsewhere concurrent speech), sentence ends typed at
the start of right-to-left lines, a word timed before the word it follows (recognizer jitter), a
sentence said faster than anyone speaks (flagged). A file fails (a TranscriptError naming the file
and the problem) only when it is not a subtitle file at all (no header, mostly unreadable blocks,
not text), nothing usable is left, or it is absurd (times past a day, a speech rate no one reaches).
"""

from __future__ import annotations

import html
import itertools
import json
import operator
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from curate.files import UnsafeFile, read_regular
from curate.text.invisible import REPAIR as INVISIBLE_REPAIR
from curate.text.invisible import strip_invisible
from curate.text.encodings import decode_other
from curate.text.inline_times import INLINE_TIME, short_fractions, timed_words
from curate.text.rtl import is_visual_order, to_logical_order
from curate.text.turns import may_hold_turns, speaker_labels, split_turns
from curate.text.words import (
    CLOSING_MARKS,
    MAX_CUE_SECONDS,
    MAX_TIME_SECONDS,
    SENTENCE_END_MARKS,
    TranscriptError,
    WordCollector,
    check_time,
    fixed_stamps_to_seconds,
    join_words,
    looks_punctuated,
    make_transcript,
    parse_time,
    spread_over_cues,
    stamp_chars_to_seconds,
    stamps_to_seconds,
)
from schemas import Transcript

_TIME = r"(?:\d+:)?\d{1,2}:\d{1,2}[.,]\d{1,3}"
# how a SubRip file starts: a cue number (or not) and a timing line with decimal commas
_SRT_HEAD = re.compile(r"(?:\d+\n)?(?:\d+:)?\d{1,2}:\d{1,2},\d{1,3}[ \t]*-->")
_TIMING_LINE = re.compile(rf"^[ \t]*({_TIME})[ \t]*-->[ \t]*({_TIME})(?:[ \t].*)?$")
_INLINE_TIME = INLINE_TIME
# YouTube's word tags: a timestamp, then a <c> span that opens with the space before its word
_NOT_A_WORD_TAG = re.compile(r"<\d[^<>]*>(?!<c[^<>]*> )")
_TAG = re.compile(r"<[^<>]*>")
_NON_TIME_TAG = re.compile(r"<(?![\d])[^<>]*>")  # <c>, </c>, <c.color>: every tag but a timestamp
# markup that only styles the text: every tag but timestamps and voice spans, SubStation codes
_STYLE_MARKUP = re.compile(r"<(?!\d|v[\s.>])[^<>]*>|\{[^{}]*\}")
_BRACE_TAG = re.compile(r"\{[^{}]*\}")  # SubStation / MicroDVD codes left in SRT files: {\an8}, {Y:i}
# Sound annotations: [Music] (also across lines, and one left open or closed at the text's edge),
# (APPLAUSE), a line that is all in parentheses ("(upbeat music)"), music notes.
_ANNOTATION = re.compile(
    r"\[[^\[\]]*\]|^[^\[\]]*\]|\[[^\[\]]*$|\(\s*[A-Z][A-Z0-9 '\-]*\)|^[ \t]*\([^()\n]*\)[ \t]*$|[♪♫♬]",
    re.M,
)
_ANNOTATION_MARK = re.compile("[][(♪♫♬]")
# ">>" (speaker change), "- " (dialogue dash) and "NAME:" labels at the start of a line
_SPEAKER_AT_LINE_START = re.compile(
    r"^[ \t]*(?:(?:>>|--?(?=\s))[ \t]*)*(?:[A-Z][A-Z0-9.'\-]*(?: [A-Z0-9][A-Z0-9.'\-]*){0,3}:\s+)?", re.M
)
# Tokens of punctuation alone ("...", a French "?", an Arabic "؟") are not words: one after a word
# joins it (keeping a sentence end), one at the start is dropped; a dash alone is dropped wherever
# it stands. "&", "%", "$" are spoken and stay.
_PUNCTUATION = r"\-–—‐‑‒―.,;:!?¡¿…'\"«»“”„‘’()*·•~/\\。、，！？：；「」『』（）・．｡؟،؛۔।॥։።፣፤፧"
# a dash standing alone between words is a pause, not part of the word before it
_DASH_TOKEN = re.compile(r" [\-–—‐‑‒―\[\]]+(?= |$)")  # (and a lone bracket left of an annotation)
_PUNCTUATION_TOKEN_AFTER_WORD = re.compile(rf" ([{_PUNCTUATION}]+)(?= |$)")
_PUNCTUATION_TOKEN_AT_START = re.compile(rf"^(?:[{_PUNCTUATION}]+(?: |$))+")
_EMPHASIS = re.compile(r"(?<!\S)\*+|\*+(?!\S)")  # *word*
# a sentence end inside a run of Chinese or Japanese text ends a word, so sentences can end there
_CJK_SENTENCE_END = re.compile(r"([。！？．｡])(?=[^\s。！？．｡」』）\"'”’])")
# what _fixed_cue_times expects between and after the times, as ASCII codes
_ARROW = np.frombuffer(b" --> ", np.uint8)
_SPACE, _TAB = ord(" "), ord("\t")
# A cue this short only shows lines that are already on screen (YouTube's transition cues).
_TRANSITION_CUE_SECONDS = 0.02
# Cues starting less than this apart are shown together (styled subtitles at several positions).
_SIMULTANEOUS_SECONDS = 0.05
_SAME_TIME_SECONDS = 0.002  # two times written alike, up to rounding
# A timestamp this far outside its neighbours' range is a typo (see _out_of_line); a time replacing
# it is estimated from the cue's text at subtitle reading speed.
_TYPO_SECONDS = 1.0
_SPOKEN_SECONDS, _SECONDS_PER_CHARACTER = 0.5, 0.06
# A file with more unreadable blocks than this share (no timing line, a broken one) is not a
# subtitle file that lost a line here and there; its times cannot be trusted.
_MAX_UNREADABLE_SHARE = 0.1
# Whole-file evidence of YouTube's automatic-caption shape (one repeated line proves nothing):
_AUTO_TAGGED_SHARE = 0.1  # cues with <time> word tags
_AUTO_TRANSITION_SHARE = 0.2  # 10 ms transition cues
_AUTO_ROLLED_SHARE = 0.5  # cues whose first line is the line the cue before ended with


class Cues(NamedTuple):
    """A file's cues as parallel lists (cue k is number k + 1 in error messages). Kept as columns
    of plain str and float, not a record and a list of lines per cue: those would be ~1000 more
    objects per video for the garbage collector to track."""

    starts: list  # float seconds
    ends: list
    texts: list  # each cue's raw text lines joined by "\n", markup included


# ---------------------------------------------------------------------------------------------
# reading


# Subtitle files stay far below this (json3 captions, the largest format, take about a MiB per hour
# of speech, and a video lasts 12 hours at most); a file above it is not one, and would be held in
# memory whole. curate run --max-subtitle-mb changes it.
MAX_SUBTITLE_BYTES = 64 * 2**20


def read_subtitle_text(
    path: str, video_id: str, repairs: Counter, language: str = "", max_bytes: int = MAX_SUBTITLE_BYTES
) -> tuple[str, str]:
    """(the file's text with newlines normalised and invisible characters taken out (counted,
    curate.text.invisible), its encoding): UTF-8 (a BOM is dropped), else the encoding
    curate.text.encodings picks, counted as a "decoded_as:<encoding>" repair; ``language`` is the
    file's language hint. A path that is not a regular file, or a file over ``max_bytes``, fails
    ("subtitle_not_a_file", "subtitle_too_large") unread."""
    try:
        data = read_regular(path, max_bytes)
    except UnsafeFile as exc:
        raise TranscriptError(f"subtitle_{exc.reason}", str(exc), video_id=video_id) from None
    except OSError as exc:
        raise TranscriptError(
            "subtitle_unreadable", f"{path}: {exc.strerror or exc}", video_id=video_id
        ) from exc
    if not data.strip():
        raise TranscriptError("subtitle_empty", f"{path}: the file is empty", video_id=video_id)
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        text, encoding = decode_other(data, exc, path, video_id, language, repairs)
    text, invisible = strip_invisible(text.replace("\r\n", "\n").replace("\r", "\n"))
    if invisible:
        repairs[INVISIBLE_REPAIR] += invisible
    return text, encoding


# SubStation escapes left in SRT and WebVTT text: a forced line break, a hard space
_ASS_ESCAPE = re.compile(r"\\[Nnh]")
_ASS_ESCAPED = {"\\N": "\n", "\\n": "\n", "\\h": " "}


def clean_text(text: str) -> str:
    """Spoken words of a cue's text (one or more lines; invisible characters are gone from the file's
    text already, and those that decoding makes are taken out of the words): markup tags, SubStation
    codes and escapes and entities resolved, speaker marks (">>", "- ", "NAME:"), sound annotations
    ("[Music]", "(APPLAUSE)", music notes) and tokens of punctuation alone removed; lines joined
    (without a space between Chinese or Japanese characters)."""
    if _has_cleaned_mark(text):  # else (most caption pieces) no markup: skip the regexes
        text = html.unescape(_BRACE_TAG.sub("", _TAG.sub("", text))).replace("\xa0", " ")
        if "\\" in text:
            text = _ASS_ESCAPE.sub(lambda m: _ASS_ESCAPED[m.group()], text)
        if "-" in text or ">" in text or ":" in text:
            text = _SPEAKER_AT_LINE_START.sub("", text)
        if _ANNOTATION_MARK.search(text):
            text = _ANNOTATION.sub(" ", text)
        if "<" in text or ">" in text:  # ">>" (a speaker change), or what is left of a broken tag
            text = text.replace("<", " ").replace(">", " ")
        if "*" in text:
            text = _EMPHASIS.sub("", text)
    text = join_words(text.split())
    if not text.isascii():
        text = _CJK_SENTENCE_END.sub(r"\1 ", text)
        if _DASH_TOKEN.search(text):
            text = _DASH_TOKEN.sub("", text)
    elif " -" in text or " [" in text or " ]" in text:
        text = _DASH_TOKEN.sub("", text)
    return _PUNCTUATION_TOKEN_AT_START.sub("", _PUNCTUATION_TOKEN_AFTER_WORD.sub(r"\1", text))


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
            "subtitle_truncated"
            if number == last and len(unreadable) == 1 and numbers
            else "subtitle_malformed",
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
                f"{origin}: cue {n + 1} (block {numbers[n]}) has unusable times "
                f"({starts[n]:.3f} --> {ends[n]:.3f}s)",
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


def vtt_cues(text: str, origin: str, video_id: str, repairs: Counter) -> tuple[Cues, str]:
    """(cues, language from the header) of a WebVTT file."""
    # The spec separates cues by empty lines only, and automatic captions rely on it (their cues hold
    # " " lines); other files also get split at whitespace-only lines, as players tolerate them.
    separator = r"\n\n+" if "\n \n" in text else r"\n[ \t]*\n"
    blocks = _blocks(text, separator)
    header = blocks[0].split("\n") if blocks else []
    if not header or not re.match(r"WEBVTT(?:$|[ \t])", header[0]):
        raise TranscriptError("subtitle_malformed", f"{origin}: no WEBVTT header", video_id=video_id)
    language = next((h.split(":", 1)[1].strip() for h in header if h.startswith("Language:")), "")
    raw = _raw_cues(blocks[1:], repairs)
    return _timed_cues(raw, origin=origin, video_id=video_id, repairs=repairs), language


def srt_cues(text: str, origin: str, video_id: str, repairs: Counter) -> Cues:
    raw = _raw_cues(_blocks(text, r"\n[ \t]*\n"), repairs)
    return _timed_cues(raw, origin=origin, video_id=video_id, repairs=repairs)


# ---------------------------------------------------------------------------------------------
# cues -> words


def caption_layout(cues: Cues) -> str:
    """How a file shows its captions, on evidence that holds for the whole file:

    * "automatic": YouTube's automatic captions: many 10 ms transition cues, many cues with word
      tags (each timestamp opens a ``<c>`` span that starts with the space before its word), or
      rolled-up lines in YouTube's SRT export (each cue shown until the one after next starts);
    * "rolled": other roll-up captions (CEA-608 roll-up converted): most cues show the line the cue
      before ended with, then a new one;
    * "uploaded": everything else, karaoke and paint-on captions with timestamps inside words
      included, and files that repeat a line now and then ("Hey." / "Hey.") or show two cues at
      once (concurrent text, not rolled-up lines)."""
    n = len(cues.texts)
    if not n:
        return "uploaded"
    lengths = np.subtract(cues.ends, cues.starts)
    if np.count_nonzero(lengths <= _TRANSITION_CUE_SECONDS) >= _AUTO_TRANSITION_SHARE * n:
        return "automatic"  # checked first: the cheapest evidence
    tagged = 0
    for text in cues.texts:
        if "<" in text and _INLINE_TIME.search(text) and not _NOT_A_WORD_TAG.search(text):
            tagged += 1
            if tagged >= _AUTO_TAGGED_SHARE * n:
                return "automatic"
    if n < 2:
        return "uploaded"
    shown = [[line.strip() for line in text.split("\n") if line.strip()] for text in cues.texts]
    # rolling up: a cue shows the line the cue before ended with, then a new one
    rolled = sum(
        1
        for a, b, gap in zip(shown, shown[1:], np.diff(cues.starts).tolist())
        if a and len(b) >= 2 and a[-1] == b[0] and gap >= _SIMULTANEOUS_SECONDS
    )
    if rolled < max(2, _AUTO_ROLLED_SHARE * (n - 1)):
        return "uploaded"
    return "automatic" if _shown_until_next_but_one(cues) else "rolled"


def _shown_until_next_but_one(cues: Cues) -> bool:
    """Whether most cues end where the cue after next starts: YouTube's SRT export of automatic
    captions, where each line is shown twice, rolling."""
    if len(cues.starts) < 3:
        return False
    starts, ends = np.asarray(cues.starts), np.asarray(cues.ends)
    rolling = (np.abs(ends[:-2] - starts[2:]) < _SAME_TIME_SECONDS) & (ends[:-2] > starts[1:-1])
    return np.count_nonzero(rolling) >= _AUTO_ROLLED_SHARE * (len(starts) - 2)


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


def _needs_cleaning(text: str) -> bool:
    """Whether clean_text could change the text (a search for its marks first: faster)."""
    return _has_cleaned_mark(text) or bool(_PUNCTUATION_WORD.search(text))


def _has_cleaned_mark(text: str) -> bool:
    return _CLEANED_MARK.search(text) is not None


def _has_punctuation_word(words: list) -> bool:
    """Whether one of the words is punctuation alone (for ASCII words, bytes.translate deletes the
    punctuation and an empty word shows as two adjacent newlines: faster than the regex)."""
    joined = "\n".join(words)
    if not joined.isascii():
        return bool(_PUNCTUATION_WORD.search(joined))
    bare = b"\n" + joined.encode("ascii").translate(None, _ASCII_PUNCTUATION) + b"\n"
    return b"\n\n" in bare


_CLEANED_MARKS = "&<>[](:-{*\\\xa0♪♫♬。！？"
_CLEANED_MARK = re.compile(f"[{re.escape(_CLEANED_MARKS)}]")  # a search: faster than str ones
_PUNCTUATION_WORD = re.compile(rf"(?<!\S)[{_PUNCTUATION}]+(?!\S)")
_ASCII_PUNCTUATION = bytes(c for c in range(128) if re.fullmatch(rf"[{_PUNCTUATION}]", chr(c)))


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


def _json3_number(
    value, where: str, origin: str, video_id: str, *, offset_from: Optional[float] = None
) -> float:
    """Seconds of a json3 time in ms, checked; an offset (from offset_from) may be negative (a word
    timed a little before its event: recognizer jitter) as long as the time it gives is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TranscriptError(
            "subtitle_malformed", f"{origin}: {where} is {value!r}, not a number", video_id=video_id
        )
    seconds = value / 1000.0 if abs(value) < 1e300 else float("inf")
    if offset_from is not None:
        seconds += offset_from
    return check_time(seconds, where, source=origin, video_id=video_id)


def _json3_event(event: dict, n: int, origin: str, video_id: str) -> tuple[list, bool]:
    """([(words, start, latest end)] of one json3 event with segs, whether it is automatic)."""
    segs = event["segs"]
    if not isinstance(segs, list):
        raise TranscriptError(
            "subtitle_malformed", f"{origin}: event {n} segs is not a list", video_id=video_id
        )
    start = _json3_number(event.get("tStartMs"), f"event {n} tStartMs", origin, video_id)
    end = start + _json3_number(event.get("dDurationMs", 0), f"event {n} dDurationMs", origin, video_id)
    if end - start > MAX_CUE_SECONDS:
        raise TranscriptError(
            "bad_timestamps", f"{origin}: event {n} lasts {end - start:.0f}s", video_id=video_id
        )
    automatic = False
    timed = []
    for seg in segs:
        if not isinstance(seg, dict) or not isinstance(seg.get("utf8", ""), str):
            raise TranscriptError(
                "subtitle_malformed", f"{origin}: event {n} has a bad seg {seg!r:.60}", video_id=video_id
            )
        automatic = automatic or "tOffsetMs" in seg or "acAsrConf" in seg
        seg_start = _json3_number(
            seg.get("tOffsetMs", 0), f"event {n} tOffsetMs", origin, video_id, offset_from=start
        )
        timed.append((clean_text(seg.get("utf8", "")).split(), seg_start))
    return [
        (words, seg_start, timed[k + 1][1] if k + 1 < len(timed) else max(end, seg_start))
        for k, (words, seg_start) in enumerate(timed)
    ], automatic


def json3_words(text: str, origin: str, video_id: str, repairs: Counter) -> tuple:
    """Words of YouTube json3 (``events[].tStartMs/dDurationMs/segs[].utf8/tOffsetMs``). A bad
    event is skipped and counted ("bad_event_skipped"), unless more than _MAX_UNREADABLE_SHARE of
    them are bad or nothing else is left."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) - 1
        raise TranscriptError(
            "subtitle_truncated" if truncated else "subtitle_malformed",
            f"{origin}: invalid JSON ({exc.msg} at char {exc.pos})",
            video_id=video_id,
        ) from exc
    except RecursionError as exc:
        raise TranscriptError(
            "subtitle_malformed", f"{origin}: JSON nested too deeply", video_id=video_id
        ) from exc
    events = doc.get("events") if isinstance(doc, dict) else None
    if not isinstance(events, list):
        raise TranscriptError("subtitle_malformed", f"{origin}: no 'events' list", video_id=video_id)
    automatic = False
    collected = WordCollector(origin, video_id, repairs)
    with_text, bad = 0, []  # events with segs; the errors of those that were skipped
    for n, event in enumerate(events):
        segs = event.get("segs") if isinstance(event, dict) else None
        if not segs or event.get("aAppend"):
            continue
        with_text += 1
        try:
            timed, automatic_event = _json3_event(event, n, origin, video_id)
        except TranscriptError as exc:
            bad.append(exc)
            continue
        automatic = automatic or automatic_event
        for words, seg_start, latest_end in timed:
            collected.add(words, seg_start, latest_end)
    if bad:
        if len(bad) > _MAX_UNREADABLE_SHARE * with_text or not collected.texts:
            raise bad[0]
        repairs["bad_event_skipped"] += len(bad)
    return collected.finish(estimate_ends=automatic)


# ---------------------------------------------------------------------------------------------
# the entry point


def detect_format(path: str, text: str) -> str:
    """ "vtt", "srt" or "json3": from the extension, else from the content."""
    suffix = Path(path).suffix.lower()
    known = {".vtt": "vtt", ".srt": "srt", ".json3": "json3", ".json": "json3"}
    if suffix in known:
        return known[suffix]
    head = text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith("{"):
        return "json3"
    if re.match(rf"\d+\n{_TIME}\s*-->", head):
        return "srt"
    return ""


def _language_from_name(path: str) -> str:
    parts = Path(path).name.split(".")
    return parts[-2] if len(parts) >= 3 and re.fullmatch(r"[a-z]{2,3}(?:-[A-Za-z0-9]+)?", parts[-2]) else ""


def parse_subtitle_file(path: str, video_id: str, max_bytes: int = MAX_SUBTITLE_BYTES) -> Transcript:
    """A subtitle file (.vtt automatic or uploaded, .srt, .json3) as a Transcript, with the
    repairs made on the way, the text encoding and the dialogue turns recorded in it.

    The format comes from the extension (else the content; a SubRip body under a .vtt name is read
    as SRT, "srt_body_in_vtt_file"); automatic captions vs uploaded subtitles from the content of
    the whole file (caption_layout). Raises TranscriptError naming the file and the problem (also
    for a path that is not a regular file or a file over ``max_bytes``).
    """
    path = str(path)
    repairs: Counter = Counter()
    language = _language_from_name(path)
    text, encoding = read_subtitle_text(path, video_id, repairs, language, max_bytes)
    fmt = detect_format(path, text)
    turns: tuple = ()
    if fmt == "vtt" and not text.lstrip().startswith("WEBVTT") and _SRT_HEAD.match(text.lstrip()):
        fmt = "srt"
        repairs["srt_body_in_vtt_file"] += 1
    if fmt in ("vtt", "srt"):
        if fmt == "vtt":
            cues, header_language = vtt_cues(text, path, video_id, repairs)
            language = header_language or language
        else:
            cues = srt_cues(text, path, video_id, repairs)
        layout = caption_layout(cues)
        if layout == "uploaded":
            words, turns = cue_words(cues, path, video_id, repairs)
        else:
            automatic = layout == "automatic"
            words = auto_caption_words(cues, path, video_id, repairs, estimate_ends=automatic)
        source = f"{fmt}_auto" if layout == "automatic" else fmt
    elif fmt == "json3":
        words, source = json3_words(text, path, video_id, repairs), "json3"
    else:
        raise TranscriptError(
            "subtitle_unknown_format", f"{path}: not WebVTT, SRT or json3", video_id=video_id
        )
    return make_transcript(
        words,
        video_id,
        source,
        punctuated=looks_punctuated(words),
        language=language,
        origin=path,
        repairs=repairs,
        encoding=encoding,
        turns=turns,
    )
