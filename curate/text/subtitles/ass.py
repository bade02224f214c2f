"""Advanced SubStation Alpha (.ass) and SubStation Alpha (.ssa) files -> cues: the Dialogue lines
of the [Events] section, read by the field order of its Format line.

Override codes ({\\an8}, {\\i1}, karaoke {\\k20}) and escapes (\\N, \\h) stay in the cue text for the
shared cleaning (curate.text.subtitles.cleaning), as they do when such text turns up in SRT files.
"""

from __future__ import annotations

import re
from collections import Counter

from curate.text.subtitles.cues import Cues, _timed_cues
from curate.text.words import TranscriptError

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_ASS_TIME = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?\s*$")


def _to_cue_time(stamp: str) -> str | None:
    """ "0:01:02.35" -> "00:01:02.350", the timing-line form the shared cue reader repairs and reads."""
    m = _ASS_TIME.match(stamp)
    if m is None:
        return None
    hours, minutes, seconds, fraction = m.groups()
    return f"{int(hours):02d}:{int(minutes):02d}:{int(seconds):02d}.{(fraction or '0').ljust(3, '0')}"


def ass_cues(text: str, origin: str, video_id: str, repairs: Counter) -> Cues:
    """The cues of the Dialogue lines (Comment lines and the other sections are not speech)."""
    section, fields = "", None
    numbers, timings, bodies, unreadable = [], [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        header = _SECTION.match(line)
        if header:
            section = header[1].strip().lower()
            continue
        if section != "events" or ":" not in line:
            continue
        kind, _, value = line.partition(":")
        kind = kind.strip().lower()
        if kind == "format":
            fields = [f.strip().lower() for f in value.split(",")]
            if not {"start", "end", "text"} <= set(fields) or fields[-1] != "text":
                raise TranscriptError(
                    "subtitle_malformed",
                    f"{origin}: line {number}: the [Events] Format line must name Start, End and Text "
                    f"(Text last), got {value.strip()!r}",
                    video_id=video_id,
                )
            continue
        if kind != "dialogue":
            continue
        if fields is None:
            raise TranscriptError(
                "subtitle_malformed",
                f"{origin}: line {number}: a Dialogue line before the Format line",
                video_id=video_id,
            )
        values = value.lstrip().split(",", len(fields) - 1)  # the text (last) may hold commas
        start, end = (
            _to_cue_time(values[fields.index(k)]) if len(values) == len(fields) else None for k in ("start", "end")
        )
        if start is None or end is None:
            unreadable.append((number, line.strip()))
            repairs["broken_dialogue_line_dropped"] += 1
            continue
        numbers.append(number)
        timings.append(f"{start} --> {end}")
        bodies.append(values[-1])
    if fields is None:
        raise TranscriptError(
            "subtitle_malformed", f"{origin}: no [Events] section with a Format line", video_id=video_id
        )
    return _timed_cues((numbers, timings, bodies, unreadable), origin=origin, video_id=video_id, repairs=repairs)
