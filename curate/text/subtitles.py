"""Subtitle files -> timed words: YouTube automatic captions (WebVTT with rolling cues and word
timings), uploaded WebVTT and SRT, and YouTube json3.

Every problem with a file (empty, not UTF-8, no header, a broken or reversed timing line, a file
cut off mid-cue, overlapping cues, absurd times, no words at all) is a TranscriptError that names
the file and the problem; nothing else escapes these functions.
"""

from __future__ import annotations

import html
import itertools
import json
import operator
import re
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from curate.text.words import (
    MAX_CUE_SECONDS,
    MAX_TIME_SECONDS,
    TranscriptError,
    WordCollector,
    check_time,
    looks_punctuated,
    make_transcript,
    fixed_stamps_to_seconds,
    parse_time,
    stamp_chars_to_seconds,
    stamps_to_seconds,
)
from schemas import Transcript

_TIME = r"(?:\d+:)?\d{1,2}:\d{1,2}[.,]\d{1,3}"
_TIMING_LINE = re.compile(rf"^[ \t]*({_TIME})[ \t]*-->[ \t]*({_TIME})(?:[ \t].*)?$")
_TIMING_LINES = re.compile(rf"^[ \t]*({_TIME})[ \t]*-->[ \t]*({_TIME})(?:[ \t].*)?$", re.M)
_INLINE_TIME = re.compile(r"<((?:\d+:)?\d{1,2}:\d{2}\.\d{1,3})>")
_TAG = re.compile(r"<[^<>]*>")
_NON_TIME_TAG = re.compile(r"<(?![\d])[^<>]*>")  # <c>, </c>, <c.color>: every tag but a timestamp
_ANNOTATION = re.compile(r"\[[^\[\]]*\]|\(\s*[A-Z][A-Z0-9 '\-]*\)|[♪♫♬]")
# ">>" (speaker change), "- " (dialogue dash) and "NAME:" labels at the start of a line
_SPEAKER_AT_LINE_START = re.compile(
    r"^\s*(?:(?:>>|--?(?=\s))\s*)*(?:[A-Z][A-Z0-9.'\-]*(?: [A-Z0-9][A-Z0-9.'\-]*){0,3}:\s+)?"
)
# what _fixed_cue_times expects between and after the times, as ASCII codes
_ARROW = np.frombuffer(b" --> ", np.uint8)
_SPACE, _TAB = ord(" "), ord("\t")
# A cue this short only shows lines that are already on screen (YouTube's transition cues).
_TRANSITION_CUE_SECONDS = 0.02
# Uploaded subtitles may overlap their neighbour a little (a cue kept on screen a moment longer);
# more than this is a broken file.
_MAX_CUE_OVERLAP_SECONDS = 1.0


class Cues(NamedTuple):
    """A file's cues as parallel lists (cue k is number k + 1 in error messages). Kept as columns
    of plain str and float, not a record and a list of lines per cue: those would be ~1000 more
    objects per video for the garbage collector to track."""

    starts: list  # float seconds
    ends: list
    texts: list  # each cue's raw text lines joined by "\n", markup included


# ---------------------------------------------------------------------------------------------
# reading


def read_subtitle_text(path: str, video_id: str) -> str:
    """The file's text: UTF-8 (a BOM is dropped), newlines normalised."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TranscriptError(
            "subtitle_unreadable", f"{path}: {exc.strerror or exc}", video_id=video_id
        ) from exc
    if not data.strip():
        raise TranscriptError("subtitle_empty", f"{path}: the file is empty", video_id=video_id)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(
            "subtitle_not_utf8", f"{path}: not UTF-8 (bad byte at offset {exc.start})", video_id=video_id
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_text(text: str) -> str:
    """Spoken words of one line: markup tags and entities resolved, speaker marks (">>", "- ",
    "NAME:") and sound annotations ("[Music]", "(APPLAUSE)", music notes) removed."""
    text = html.unescape(_TAG.sub("", text)).replace("\xa0", " ")
    text = _SPEAKER_AT_LINE_START.sub("", text)
    text = _ANNOTATION.sub(" ", text).replace(">>", " ")
    return " ".join(text.split())


def cue_times(timing_lines: list[str], *, truncated_at_end: bool, origin: str, video_id: str):
    """(starts, ends) arrays of the cues' timing lines, all checked: a broken line (at the end of the
    file: a truncated file), an end before the start, absurd times, a cue lasting for ages."""
    times = _fixed_cue_times(timing_lines)
    if times is not None:
        return _checked_cue_times(times[0], times[1], origin, video_id)
    matches = _TIMING_LINES.findall("\n".join(timing_lines))
    if len(matches) != len(timing_lines):
        n = next(i for i, line in enumerate(timing_lines) if not _TIMING_LINE.match(line))
        reason = (
            "subtitle_truncated" if truncated_at_end and n == len(timing_lines) - 1 else "subtitle_malformed"
        )
        raise TranscriptError(
            reason,
            f"{origin}: cue {n + 1} has a broken timing line {timing_lines[n][:60]!r}",
            video_id=video_id,
        )
    times = stamps_to_seconds([stamp for pair in matches for stamp in pair]).reshape(-1, 2)
    return _checked_cue_times(times[:, 0], times[:, 1], origin, video_id)


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


def _checked_cue_times(starts: np.ndarray, ends: np.ndarray, origin: str, video_id: str):
    problems = [
        (starts > MAX_TIME_SECONDS, "starts at an absurd time ({start:.0f}s)"),
        (ends < starts, "ends ({end:.3f}s) before it starts ({start:.3f}s)"),
        (ends - starts > MAX_CUE_SECONDS, "lasts {length:.0f}s"),
    ]
    for bad, message in problems:
        if bad.any():
            n = int(np.argmax(bad))
            detail = message.format(start=starts[n], end=ends[n], length=ends[n] - starts[n])
            raise TranscriptError("bad_timestamps", f"{origin}: cue {n + 1} {detail}", video_id=video_id)
    return starts, ends


def _blocks(text: str, separator: str) -> list[str]:
    return [b for b in re.split(separator, text.strip("\n")) if b.strip()]


def vtt_cues(text: str, origin: str, video_id: str) -> tuple[Cues, str]:
    """(cues, language from the header) of a WebVTT file."""
    # The spec separates cues by empty lines only, and automatic captions rely on it (their cues hold
    # " " lines); other files also get split at whitespace-only lines, as players tolerate them.
    separator = r"\n\n+" if "\n \n" in text else r"\n[ \t]*\n"
    blocks = _blocks(text, separator)
    header = blocks[0].split("\n") if blocks else []
    if not header or not re.match(r"WEBVTT(?:$|[ \t])", header[0]):
        raise TranscriptError("subtitle_malformed", f"{origin}: no WEBVTT header", video_id=video_id)
    language = next((h.split(":", 1)[1].strip() for h in header if h.startswith("Language:")), "")
    timing_lines, bodies = [], []
    for n, block in enumerate(blocks[1:], 1):
        first, _, rest = block.partition("\n")
        if "-->" in first:
            timing_lines.append(first)
            bodies.append(rest)
        elif "-->" in rest.partition("\n")[0]:  # after a cue identifier
            second, _, rest = rest.partition("\n")
            timing_lines.append(second)
            bodies.append(rest)
        elif not first.startswith(("NOTE", "STYLE", "REGION")):
            reason = "subtitle_truncated" if n == len(blocks) - 1 else "subtitle_malformed"
            raise TranscriptError(
                reason, f"{origin}: block {n} has no timing line: {first[:60]!r}", video_id=video_id
            )
    starts, ends = cue_times(timing_lines, truncated_at_end=True, origin=origin, video_id=video_id)
    return Cues(starts.tolist(), ends.tolist(), bodies), language


def srt_cues(text: str, origin: str, video_id: str) -> Cues:
    blocks = _blocks(text, r"\n[ \t]*\n")
    timing_lines, bodies = [], []
    for n, block in enumerate(blocks):
        first, newline, rest = block.partition("\n")
        if first.strip().isdigit() and newline:  # a cue number before the timing line
            timing, _, body = rest.partition("\n")
        else:
            timing, body = first, rest
        if "-->" not in timing:
            reason = "subtitle_truncated" if n == len(blocks) - 1 and n else "subtitle_malformed"
            raise TranscriptError(
                reason, f"{origin}: block {n + 1} has no timing line: {first[:60]!r}", video_id=video_id
            )
        timing_lines.append(timing)
        bodies.append(body)
    starts, ends = cue_times(timing_lines, truncated_at_end=True, origin=origin, video_id=video_id)
    return Cues(starts.tolist(), ends.tolist(), bodies)


# ---------------------------------------------------------------------------------------------
# cues -> words


def is_automatic(cues: Cues) -> bool:
    """YouTube automatic captions: word timing tags, or (a caption too short to have any) a cue
    that repeats the previous cue's last line as its first, the roll-up that uploaded subtitles
    never do."""
    if any("<" in text and _INLINE_TIME.search(text) for text in cues.texts):
        return True
    shown = [[line.strip() for line in text.split("\n") if line.strip()] for text in cues.texts]
    return any(a and b and a[-1] == b[0] for a, b in zip(shown, shown[1:]))


def auto_caption_words(cues: Cues, origin: str, video_id: str) -> tuple:
    """One word sequence from YouTube's rolling automatic captions, each word exactly once.

    A line carrying ``<time><c>`` tags is new speech: its first word starts at the cue start, the
    others at their tags. A line without tags repeats the line before it (rolling up), except a
    line that differs from the last new line in a cue longer than a transition cue (a one-word
    line has no tags): that is new speech spread over the cue.
    """
    collected = WordCollector(origin, video_id)
    _collect_caption_words(cues, collected)
    # finished here, once the per-line records above are gone: fewer objects alive for the garbage
    # collector to go through while the words are made
    return collected.finish(estimate_ends=True)


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
    at_once = _tagged_lines_at_once(tagged) if tagged else None
    if at_once is not None:
        words, starts, latest_ends, offsets = at_once
        plain_lines = [" ".join(words[a:b]) for a, b in zip(offsets, offsets[1:])]
    else:
        plain_lines = [_plain_caption_line(entry[0]) for entry in tagged]
    new_lines = []  # (tagged line number, or the plain text of an untagged line, cue start, cue end)
    last_line: Optional[str] = None
    n_tagged = 0
    for line, start, end, is_tagged in candidates:
        if is_tagged:
            new_lines.append((n_tagged, start, end))
            last_line = plain_lines[n_tagged]
            n_tagged += 1
            continue
        if line == last_line:
            continue  # the rolled-up line (checked first: most untagged lines are)
        plain = clean_text(line)
        if plain and plain != last_line:
            new_lines.append((plain, start, end))
            last_line = plain
    if at_once is not None and len(new_lines) == len(tagged):
        collected.extend(words, starts, latest_ends)
        return
    for what, start, end in new_lines:
        if isinstance(what, str):
            collected.add(what.split(), start, end)
        elif at_once is not None:
            a, b = offsets[what], offsets[what + 1]
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
    """Whether clean_text could change the text (str searches: much faster than a regex here)."""
    return any(mark in text for mark in _CLEANED_MARKS)


_CLEANED_MARKS = ("&", "[", "(", ">", ":", "-", "♪", "♫", "♬")


def _add_tagged_line(collected: WordCollector, line: str, cue_start: float, cue_end: float) -> None:
    """One caption line with timing tags, whatever it holds (markup, several words per tag)."""
    pieces = _INLINE_TIME.split(_NON_TIME_TAG.sub("", line))  # [text, time, text, time, ...]
    texts = [clean_text(p) for p in pieces[0::2]]
    starts = [cue_start] + [parse_time(t) for t in pieces[1::2]]
    last = len(texts) - 1
    for k, (piece, start) in enumerate(zip(texts, starts)):
        collected.add(piece.split(), start, starts[k + 1] if k < last else max(cue_end, start))


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
        or _needs_cleaning(text)
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


def cue_words(cues: Cues, origin: str, video_id: str) -> tuple:
    """Words of uploaded subtitles: each cue's words spread over the cue in proportion to their
    length. A cue that overlaps the one before by up to a second shortens it; more is an error."""
    kept: list[tuple[float, float, list[str], int]] = []
    for number, (start, end, text) in enumerate(zip(*cues), 1):
        words = " ".join(clean_text(line) for line in text.split("\n")).split()
        if not words:
            continue
        if kept and start < kept[-1][1]:
            prev_start, prev_end, prev_words, prev_number = kept[-1]
            overlap = prev_end - start
            if start < prev_start or overlap > _MAX_CUE_OVERLAP_SECONDS:
                raise TranscriptError(
                    "bad_timestamps",
                    f"{origin}: cue {number} ({start:.3f}s) overlaps cue {prev_number} "
                    f"({prev_start:.3f}-{prev_end:.3f}s)",
                    video_id=video_id,
                )
            kept[-1] = (prev_start, start, prev_words, prev_number)
        kept.append((start, end, words, number))
    collected = WordCollector(origin, video_id)
    for start, end, words, _ in kept:
        collected.add(words, start, end)
    return collected.finish(estimate_ends=False)


def _json3_number(value, where: str, origin: str, video_id: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TranscriptError(
            "subtitle_malformed", f"{origin}: {where} is {value!r}, not a number", video_id=video_id
        )
    seconds = value / 1000.0 if abs(value) < 1e300 else float("inf")
    return check_time(seconds, where, source=origin, video_id=video_id)


def json3_words(text: str, origin: str, video_id: str) -> tuple:
    """Words of YouTube json3 (``events[].tStartMs/dDurationMs/segs[].utf8/tOffsetMs``)."""
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
    collected = WordCollector(origin, video_id)
    for n, event in enumerate(events):
        segs = event.get("segs") if isinstance(event, dict) else None
        if not segs or event.get("aAppend"):
            continue
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
        timed = []
        for seg in segs:
            if not isinstance(seg, dict) or not isinstance(seg.get("utf8", ""), str):
                raise TranscriptError(
                    "subtitle_malformed", f"{origin}: event {n} has a bad seg {seg!r:.60}", video_id=video_id
                )
            automatic = automatic or "tOffsetMs" in seg or "acAsrConf" in seg
            offset = _json3_number(seg.get("tOffsetMs", 0), f"event {n} tOffsetMs", origin, video_id)
            timed.append((clean_text(seg.get("utf8", "")).split(), start + offset))
        for k, (words, seg_start) in enumerate(timed):
            latest_end = timed[k + 1][1] if k + 1 < len(timed) else max(end, seg_start)
            collected.add(words, seg_start, latest_end)
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


def parse_subtitle_file(path: str, video_id: str) -> Transcript:
    """A subtitle file (.vtt automatic or uploaded, .srt, .json3) as a Transcript.

    The format comes from the extension (else the content); automatic vs uploaded WebVTT from the
    content (word timing tags). Raises TranscriptError naming the file and the problem.
    """
    path = str(path)
    text = read_subtitle_text(path, video_id)
    fmt = detect_format(path, text)
    language = _language_from_name(path)
    if fmt == "vtt":
        cues, header_language = vtt_cues(text, path, video_id)
        language = header_language or language
        automatic = is_automatic(cues)
        words = auto_caption_words(cues, path, video_id) if automatic else cue_words(cues, path, video_id)
        source = "vtt_auto" if automatic else "vtt"
    elif fmt == "srt":
        words, source = cue_words(srt_cues(text, path, video_id), path, video_id), "srt"
    elif fmt == "json3":
        words, source = json3_words(text, path, video_id), "json3"
    else:
        raise TranscriptError(
            "subtitle_unknown_format", f"{path}: not WebVTT, SRT or json3", video_id=video_id
        )
    return make_transcript(
        words, video_id, source, punctuated=looks_punctuated(words), language=language, origin=path
    )
