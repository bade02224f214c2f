"""Which format a subtitle file is in (from its extension, else its content), and the language
its file name gives.
"""

from __future__ import annotations

import re
from pathlib import Path

from curate.text.subtitles.cues import _TIME

# how a SubRip file starts: a cue number (or not) and a timing line with decimal commas
_SRT_HEAD = re.compile(r"(?:\d+\n)?(?:\d+:)?\d{1,2}:\d{1,2},\d{1,3}[ \t]*-->")


def detect_format(path: str, text: str) -> str:
    """ "vtt", "srt", "json3" or "ass": from the extension, else from the content."""
    suffix = Path(path).suffix.lower()
    known = {".vtt": "vtt", ".srt": "srt", ".json3": "json3", ".json": "json3", ".ass": "ass", ".ssa": "ass"}
    if suffix in known:
        return known[suffix]
    head = text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith("{"):
        return "json3"
    if head.startswith("[Script Info]"):
        return "ass"
    if re.match(rf"\d+\n{_TIME}\s*-->", head):
        return "srt"
    return ""


def _language_from_name(path: str) -> str:
    parts = Path(path).name.split(".")
    return parts[-2] if len(parts) >= 3 and re.fullmatch(r"[a-z]{2,3}(?:-[A-Za-z0-9]+)?", parts[-2]) else ""
