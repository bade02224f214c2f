"""YouTube json3 captions (``events[].tStartMs/dDurationMs/segs[].utf8/tOffsetMs``) -> words."""

from __future__ import annotations

import json
from collections import Counter
from typing import Optional

from curate.text.subtitles.cleaning import clean_text
from curate.text.subtitles.reading import _MAX_UNREADABLE_SHARE
from curate.text.words import MAX_CUE_SECONDS, TranscriptError, WordCollector, check_time


def _json3_number(value, where: str, origin: str, video_id: str, *, offset_from: Optional[float] = None) -> float:
    """Seconds of a json3 time in ms, checked; an offset (from offset_from) may be negative (a word
    timed a little before its event: recognizer jitter) as long as the time it gives is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TranscriptError("subtitle_malformed", f"{origin}: {where} is {value!r}, not a number", video_id=video_id)
    seconds = value / 1000.0 if abs(value) < 1e300 else float("inf")
    if offset_from is not None:
        seconds += offset_from
    return check_time(seconds, where, source=origin, video_id=video_id)


def _json3_event(event: dict, n: int, origin: str, video_id: str) -> tuple[list, bool]:
    """([(words, start, latest end)] of one json3 event with segs, whether it is automatic)."""
    segs = event["segs"]
    if not isinstance(segs, list):
        raise TranscriptError("subtitle_malformed", f"{origin}: event {n} segs is not a list", video_id=video_id)
    start = _json3_number(event.get("tStartMs"), f"event {n} tStartMs", origin, video_id)
    end = start + _json3_number(event.get("dDurationMs", 0), f"event {n} dDurationMs", origin, video_id)
    if end - start > MAX_CUE_SECONDS:
        raise TranscriptError("bad_timestamps", f"{origin}: event {n} lasts {end - start:.0f}s", video_id=video_id)
    automatic = False
    timed = []
    for seg in segs:
        if not isinstance(seg, dict) or not isinstance(seg.get("utf8", ""), str):
            raise TranscriptError(
                "subtitle_malformed", f"{origin}: event {n} has a bad seg {seg!r:.60}", video_id=video_id
            )
        automatic = automatic or "tOffsetMs" in seg or "acAsrConf" in seg
        seg_start = _json3_number(seg.get("tOffsetMs", 0), f"event {n} tOffsetMs", origin, video_id, offset_from=start)
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
        raise TranscriptError("subtitle_malformed", f"{origin}: JSON nested too deeply", video_id=video_id) from exc
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
