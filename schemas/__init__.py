"""Typed, immutable records passed between stages, and their Arrow schemas.

Times are float seconds of the source video everywhere.
"""
from schemas.records import (
    SCHEMA_VERSION,
    SCALES,
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
from schemas.arrow import CLIP_SCHEMA, FAILURE_SCHEMA, SENTENCE_TYPE, clips_to_table, table_to_clips

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
