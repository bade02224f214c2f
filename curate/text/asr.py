"""ASR output (faster-whisper's shape) -> a Transcript. The ASR stage itself lives elsewhere."""

from __future__ import annotations

from typing import Any, Iterable

from curate.text.words import TranscriptError, WordCollector, check_time, looks_punctuated, make_transcript
from schemas import Transcript


def _field(obj: Any, name: str, default=None):
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def transcript_from_asr(segments: Iterable, video_id: str, model_name: str, language: str = "en") -> Transcript:
    """Words from ASR segments shaped like faster-whisper's (``segment.words`` items with
    ``.word/.start/.end/.probability``; dicts with those keys work too).

    A segment without words (word_timestamps off) has its text spread over the segment. Whisper
    words may overlap a little; a word's end is cut at the next word's start, a start before the
    previous word's is moved up to it (counted in Transcript.repairs). Whisper text is
    punctuated, so the transcript is marked punctuated when its text carries sentence ends.
    """
    origin = f"asr:{model_name}"
    collected = WordCollector(origin, video_id)
    previous_start = 0.0
    for n, segment in enumerate(segments):
        words = _field(segment, "words")
        if words:
            for w in words:
                text = str(_field(w, "word", "")).strip()
                start = check_time(_field(w, "start"), f"segment {n}", source=origin, video_id=video_id)
                end = check_time(_field(w, "end"), f"segment {n}", source=origin, video_id=video_id)
                if end < start:
                    raise TranscriptError(
                        "bad_timestamps", f"{origin}: word {text!r} ends before it starts", video_id=video_id
                    )
                # Whisper may give a word a start a few ms before the previous one's; keep the order.
                if start < previous_start:
                    collected.repairs["word_start_clamped"] += 1
                    start = previous_start
                if text:
                    collected.add([text], start, max(end, start))
                    previous_start = start
        else:
            texts = str(_field(segment, "text", "")).split()
            start = check_time(_field(segment, "start"), f"segment {n}", source=origin, video_id=video_id)
            end = check_time(_field(segment, "end"), f"segment {n}", source=origin, video_id=video_id)
            if start < previous_start:
                collected.repairs["word_start_clamped"] += 1
                start = previous_start
            if texts:
                collected.add(texts, start, max(end, start))
                previous_start = start
    words = collected.finish(estimate_ends=False)
    return make_transcript(
        words,
        video_id,
        origin,
        punctuated=looks_punctuated(words),
        language=language,
        origin=f"{origin} output for {video_id}",
        repairs=collected.repairs,
    )
