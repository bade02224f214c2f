"""WebVTT files (automatic captions and uploaded subtitles alike) -> cues and the header's language."""

from __future__ import annotations

import re
from collections import Counter

from curate.text.subtitles.cues import Cues, _blocks, _raw_cues, _timed_cues
from curate.text.words import TranscriptError


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
