"""Subtitle files -> timed words: YouTube automatic captions (WebVTT with rolling cues and word
timings), uploaded WebVTT and SRT, and YouTube json3.

Every problem with a file (empty, not UTF-8, no header, a broken or reversed timing line, a file
cut off mid-cue, overlapping cues, absurd times, no words at all) is a TranscriptError that names
the file and the problem; nothing else escapes these functions.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import NamedTuple, Optional

from curate.text.words import MAX_CUE_SECONDS, TranscriptError, WordCollector, check_time, looks_punctuated, make_transcript
from schemas import Transcript

_TIME = r"(?:\d+:)?\d{1,2}:\d{1,2}[.,]\d{1,3}"
_TIMING_LINE = re.compile(rf"^\s*({_TIME})\s*-->\s*({_TIME})(?:[ \t].*)?$")
_INLINE_TIME = re.compile(r"<((?:\d+:)?\d{1,2}:\d{2}\.\d{1,3})>")
_TAG = re.compile(r"<[^<>]*>")
_NON_TIME_TAG = re.compile(r"<(?![\d])[^<>]*>")  # <c>, </c>, <c.color>: every tag but a timestamp
_NEEDS_CLEANING = re.compile(r"[&\[(>♪♫♬:]|^\s*-")  # what clean_text would change in a caption line
_ANNOTATION = re.compile(r"\[[^\[\]]*\]|\(\s*[A-Z][A-Z0-9 '\-]*\)|[♪♫♬]")
# ">>" (speaker change), "- " (dialogue dash) and "NAME:" labels at the start of a line
_SPEAKER_AT_LINE_START = re.compile(r"^\s*(?:(?:>>|--?(?=\s))\s*)*(?:[A-Z][A-Z0-9.'\-]*(?: [A-Z0-9][A-Z0-9.'\-]*){0,3}:\s+)?")
# A cue this short only shows lines that are already on screen (YouTube's transition cues).
_TRANSITION_CUE_SECONDS = 0.02
# Uploaded subtitles may overlap their neighbour a little (a cue kept on screen a moment longer);
# more than this is a broken file.
_MAX_CUE_OVERLAP_SECONDS = 1.0


class Cue(NamedTuple):
    start: float
    end: float
    lines: tuple  # raw text lines, markup included
    number: int  # 1-based position among the file's cues, for error messages


# ---------------------------------------------------------------------------------------------
# reading


def read_subtitle_text(path: str, video_id: str) -> str:
    """The file's text: UTF-8 (a BOM is dropped), newlines normalised."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TranscriptError("subtitle_unreadable", f"{path}: {exc.strerror or exc}", video_id=video_id) from exc
    if not data.strip():
        raise TranscriptError("subtitle_empty", f"{path}: the file is empty", video_id=video_id)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(
            "subtitle_not_utf8", f"{path}: not UTF-8 (bad byte at offset {exc.start})", video_id=video_id
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n")


def parse_time(stamp: str) -> float:
    """Seconds of "hh:mm:ss.ttt", "mm:ss.ttt" (or with a comma, as SRT writes them)."""
    parts = stamp.replace(",", ".").split(":")
    if len(parts) == 3:
        return int(parts[0]) * 3600 + int(parts[1]) * 60 + float(parts[2])
    return int(parts[0]) * 60 + float(parts[1])


def clean_text(text: str) -> str:
    """Spoken words of one line: markup tags and entities resolved, speaker marks (">>", "- ",
    "NAME:") and sound annotations ("[Music]", "(APPLAUSE)", music notes) removed."""
    text = html.unescape(_TAG.sub("", text)).replace("\xa0", " ")
    text = _SPEAKER_AT_LINE_START.sub("", text)
    text = _ANNOTATION.sub(" ", text).replace(">>", " ")
    return " ".join(text.split())


def _timing(line: str, number: int, *, last: bool, origin: str, video_id: str) -> tuple[float, float]:
    match = _TIMING_LINE.match(line)
    if not match:
        reason = "subtitle_truncated" if last else "subtitle_malformed"
        raise TranscriptError(reason, f"{origin}: cue {number} has a broken timing line {line[:60]!r}",
                              video_id=video_id)
    where = f"cue {number}"
    start = check_time(parse_time(match.group(1)), where, source=origin, video_id=video_id)
    end = check_time(parse_time(match.group(2)), where, source=origin, video_id=video_id)
    if end < start:
        raise TranscriptError("bad_timestamps", f"{origin}: cue {number} ends ({end:.3f}s) before it starts "
                              f"({start:.3f}s)", video_id=video_id)
    if end - start > MAX_CUE_SECONDS:
        raise TranscriptError("bad_timestamps", f"{origin}: cue {number} lasts {end - start:.0f}s",
                              video_id=video_id)
    return start, end


def _blocks(text: str, separator: str) -> list[list[str]]:
    return [b.split("\n") for b in re.split(separator, text.strip("\n")) if b.strip()]


def vtt_cues(text: str, origin: str, video_id: str) -> tuple[list[Cue], str]:
    """(cues, language from the header) of a WebVTT file."""
    # The spec separates cues by empty lines only, and automatic captions rely on it (their cues hold
    # " " lines); other files also get split at whitespace-only lines, as players tolerate them.
    separator = r"\n\n+" if "\n \n" in text else r"\n[ \t]*\n"
    blocks = _blocks(text, separator)
    header = blocks[0] if blocks else []
    if not header or not re.match(r"WEBVTT(?:$|[ \t])", header[0]):
        raise TranscriptError("subtitle_malformed", f"{origin}: no WEBVTT header", video_id=video_id)
    language = next((h.split(":", 1)[1].strip() for h in header if h.startswith("Language:")), "")
    cues = []
    for n, block in enumerate(blocks[1:], 1):
        if block[0].startswith(("NOTE", "STYLE", "REGION")) and "-->" not in block[0]:
            continue
        at = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if at is None:
            reason = "subtitle_truncated" if n == len(blocks) - 1 else "subtitle_malformed"
            raise TranscriptError(reason, f"{origin}: block {n} has no timing line: {block[0][:60]!r}",
                                  video_id=video_id)
        number = len(cues) + 1
        start, end = _timing(block[at], number, last=n == len(blocks) - 1, origin=origin, video_id=video_id)
        cues.append(Cue(start, end, tuple(block[at + 1 :]), number))
    return cues, language


def srt_cues(text: str, origin: str, video_id: str) -> list[Cue]:
    blocks = _blocks(text, r"\n[ \t]*\n")
    cues = []
    for n, block in enumerate(blocks):
        at = 1 if block[0].strip().isdigit() and len(block) > 1 else 0
        if "-->" not in block[at]:
            reason = "subtitle_truncated" if n == len(blocks) - 1 and n else "subtitle_malformed"
            raise TranscriptError(reason, f"{origin}: block {n + 1} has no timing line: {block[0][:60]!r}",
                                  video_id=video_id)
        start, end = _timing(block[at], n + 1, last=n == len(blocks) - 1, origin=origin, video_id=video_id)
        cues.append(Cue(start, end, tuple(block[at + 1 :]), n + 1))
    return cues


# ---------------------------------------------------------------------------------------------
# cues -> words


def is_automatic(cues: list[Cue]) -> bool:
    """YouTube automatic captions: word timing tags, or (a caption too short to have any) a cue
    that repeats the previous cue's last line as its first, the roll-up that uploaded subtitles
    never do."""
    if any(_INLINE_TIME.search(line) for cue in cues for line in cue.lines):
        return True
    shown = [[line.strip() for line in cue.lines if line.strip()] for cue in cues]
    return any(a and b and a[-1] == b[0] for a, b in zip(shown, shown[1:]))


def auto_caption_words(cues: list[Cue], origin: str, video_id: str) -> tuple:
    """One word sequence from YouTube's rolling automatic captions, each word exactly once.

    A line carrying ``<time><c>`` tags is new speech: its first word starts at the cue start, the
    others at their tags. A line without tags repeats the line before it (rolling up), except a
    line that differs from the last new line in a cue longer than a transition cue (a one-word
    line has no tags): that is new speech spread over the cue.
    """
    collected = WordCollector(origin, video_id)
    last_line: Optional[str] = None
    for cue in cues:
        for line in cue.lines:
            if "<" in line and _INLINE_TIME.search(line):
                pieces = _INLINE_TIME.split(_NON_TIME_TAG.sub("", line))  # [text, time, text, time, ...]
                if _NEEDS_CLEANING.search(line):
                    texts = [clean_text(p) for p in pieces[0::2]]
                else:
                    texts = pieces[0::2]
                starts = [cue.start] + [parse_time(t) for t in pieces[1::2]]
                last = len(texts) - 1
                for k, (piece, start) in enumerate(zip(texts, starts)):
                    latest_end = starts[k + 1] if k < last else max(cue.end, start)
                    collected.add(piece.split(), start, latest_end)
                last_line = " ".join(" ".join(texts).split())
                continue
            plain = clean_text(line)
            if not plain or plain == last_line or cue.end - cue.start <= _TRANSITION_CUE_SECONDS:
                continue
            collected.add(plain.split(), cue.start, cue.end)
            last_line = plain
    return collected.finish(estimate_ends=True)


def cue_words(cues: list[Cue], origin: str, video_id: str) -> tuple:
    """Words of uploaded subtitles: each cue's words spread over the cue in proportion to their
    length. A cue that overlaps the one before by up to a second shortens it; more is an error."""
    kept: list[tuple[float, float, list[str], int]] = []
    for cue in cues:
        words = " ".join(clean_text(line) for line in cue.lines).split()
        if not words:
            continue
        if kept and cue.start < kept[-1][1]:
            prev_start, prev_end, prev_words, prev_number = kept[-1]
            overlap = prev_end - cue.start
            if cue.start < prev_start or overlap > _MAX_CUE_OVERLAP_SECONDS:
                raise TranscriptError(
                    "bad_timestamps",
                    f"{origin}: cue {cue.number} ({cue.start:.3f}s) overlaps cue {prev_number} "
                    f"({prev_start:.3f}-{prev_end:.3f}s)",
                    video_id=video_id,
                )
            kept[-1] = (prev_start, cue.start, prev_words, prev_number)
        kept.append((cue.start, cue.end, words, cue.number))
    collected = WordCollector(origin, video_id)
    for start, end, words, _ in kept:
        collected.add(words, start, end)
    return collected.finish(estimate_ends=False)


def _json3_number(value, where: str, origin: str, video_id: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TranscriptError("subtitle_malformed", f"{origin}: {where} is {value!r}, not a number",
                              video_id=video_id)
    seconds = value / 1000.0 if abs(value) < 1e300 else float("inf")
    return check_time(seconds, where, source=origin, video_id=video_id)


def json3_words(text: str, origin: str, video_id: str) -> tuple:
    """Words of YouTube json3 (``events[].tStartMs/dDurationMs/segs[].utf8/tOffsetMs``)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) - 1
        raise TranscriptError("subtitle_truncated" if truncated else "subtitle_malformed",
                              f"{origin}: invalid JSON ({exc.msg} at char {exc.pos})", video_id=video_id) from exc
    except RecursionError as exc:
        raise TranscriptError("subtitle_malformed", f"{origin}: JSON nested too deeply", video_id=video_id) from exc
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
            raise TranscriptError("subtitle_malformed", f"{origin}: event {n} segs is not a list", video_id=video_id)
        start = _json3_number(event.get("tStartMs"), f"event {n} tStartMs", origin, video_id)
        end = start + _json3_number(event.get("dDurationMs", 0), f"event {n} dDurationMs", origin, video_id)
        if end - start > MAX_CUE_SECONDS:
            raise TranscriptError("bad_timestamps", f"{origin}: event {n} lasts {end - start:.0f}s", video_id=video_id)
        timed = []
        for seg in segs:
            if not isinstance(seg, dict) or not isinstance(seg.get("utf8", ""), str):
                raise TranscriptError("subtitle_malformed", f"{origin}: event {n} has a bad seg {seg!r:.60}",
                                      video_id=video_id)
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
    """"vtt", "srt" or "json3": from the extension, else from the content."""
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
        raise TranscriptError("subtitle_unknown_format", f"{path}: not WebVTT, SRT or json3", video_id=video_id)
    return make_transcript(words, video_id, source, punctuated=looks_punctuated(words), language=language,
                           origin=path)
