"""Typed, immutable records passed between stages, and their Arrow schemas.

Times are float seconds of the source video everywhere.
"""

from schemas.arrow import CLIP_SCHEMA, FAILURE_SCHEMA, SENTENCE_TYPE, clips_to_table, table_to_clips
from schemas.records import (
    SCALES,
    SCHEMA_VERSION,
    Clip,
    ClipSpan,
    Failure,
    Sentence,
    TimedWord,
    Transcript,
    VideoMeta,
    clip_key,
    safe_id,
)

__all__ = [
    "SCHEMA_VERSION",
    "SCALES",
    "Clip",
    "ClipSpan",
    "Failure",
    "Sentence",
    "TimedWord",
    "Transcript",
    "VideoMeta",
    "clip_key",
    "safe_id",
    "CLIP_SCHEMA",
    "FAILURE_SCHEMA",
    "SENTENCE_TYPE",
    "clips_to_table",
    "table_to_clips",
]
