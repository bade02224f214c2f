"""A video's transcript and clips: its subtitle file -> schemas.Transcript, and (VideoMeta,
Transcript) -> the recipe's clips (planned at sentence boundaries by curate.text, or the spans the
source gave: HD-VILA-100M release spans, Panda-70M timestamps) as schemas.Clip records, one element
per video with all its clips. Plain functions; curate.beam.transcripts wires them."""

from __future__ import annotations

from typing import Optional, Sequence

from curate.errors import StageError
from curate.text import parse_subtitle_file, transcript_to_clips
from curate.text.subtitles import MAX_SUBTITLE_BYTES
from schemas import Clip, ClipSpan, Sentence, Transcript, VideoMeta


def transcript_from_subtitles(meta: VideoMeta, max_bytes: Optional[int] = None) -> tuple:
    """(meta, Transcript) from the video's downloaded subtitle file, read only when it is a regular
    file of at most ``max_bytes`` (None: curate.text.subtitles.MAX_SUBTITLE_BYTES). Raises StageError."""

    return meta, parse_subtitle_file(meta.subtitle_path, meta.video_id, max_bytes or MAX_SUBTITLE_BYTES)


def given_span_clips(video_id: str, spans: Sequence, sentences: Sequence[Sentence], duration: Optional[float]) -> list:
    """ClipSpans (scale "sentence") from the spans a source gave, each with the sentences whose
    middle falls inside it; spans past the end of the video are clipped to it, empty ones dropped."""
    out = []
    for start, end in sorted((float(s), float(e)) for s, e in spans):
        start, end = max(0.0, start), min(end, duration) if duration else end
        if end <= start:
            continue
        inside = tuple(s for s in sentences if start <= (s.start + s.end) / 2 < end)
        out.append(ClipSpan(video_id, "sentence", len(out), start, end, inside))
    return out


def clip_from_span(span: ClipSpan, meta: VideoMeta, transcript: Transcript) -> Clip:
    return Clip(
        key=span.key,
        video_id=span.video_id,
        scale=span.scale,
        index=span.index,
        start=span.start,
        end=span.end,
        duration=span.duration,
        subtitle=span.subtitle,
        sentences=tuple(span.sentences),
        num_words=sum(s.num_words for s in span.sentences),
        category=meta.category,
        source_height=meta.height,
        transcript_source=transcript.source,
        transcript_repairs=transcript.repairs,
        url=meta.url,
    )


def plan_video_clips(element: tuple, punctuator, *, recipe, use_given_spans: bool) -> tuple:
    """(meta, transcript) -> (meta, tuple[Clip]) in order of key. Raises StageError("no_clips")."""

    meta, transcript = element
    sentences, spans = transcript_to_clips(transcript, meta.duration, recipe, punctuator=punctuator)
    if use_given_spans and meta.given_spans:  # they replace the planned clips, but not whole videos
        given = given_span_clips(meta.video_id, meta.given_spans, sentences, meta.duration)
        spans = given + [s for s in spans if s.scale == "video"]
    if not spans:
        raise StageError(
            "no_clips",
            f"{len(sentences)} sentences gave no clip of recipe {getattr(recipe, 'name', recipe)!r}",
            video_id=meta.video_id,
        )
    clips = sorted((clip_from_span(s, meta, transcript) for s in spans), key=lambda c: c.key)
    return meta, tuple(clips)
