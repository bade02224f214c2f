"""SubRip (.srt) files -> cues."""

from __future__ import annotations

from collections import Counter

from curate.text.subtitles.cues import Cues, _blocks, _raw_cues, _timed_cues


def srt_cues(text: str, origin: str, video_id: str, repairs: Counter) -> Cues:
    raw = _raw_cues(_blocks(text, r"\n[ \t]*\n"), repairs)
    return _timed_cues(raw, origin=origin, video_id=video_id, repairs=repairs)
