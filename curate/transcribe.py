"""The transcript and plan-clips stages: subtitles or ASR -> Transcript -> sentences -> clips.

``MakeTranscripts`` parses the downloaded subtitles with the text core and sends videos without
subtitles to ASR (curate.asr.TranscribeAudio, whose model loads only if one of them arrives). ``PlanClips`` restores sentences and plans the recipe's clips
(curate.text), or takes the clips the source gave (HD-VILA-100M release spans, Panda-70M
timestamps), and turns them into schemas.Clip records: one element per video with all its clips,
the shape the annotation stage and the cut take.
"""

from __future__ import annotations

import functools
from typing import Optional, Sequence

import apache_beam as beam

from curate.errors import StageError
from curate.stages import ApplyStage
from schemas import Clip, ClipSpan, Sentence, Transcript, VideoMeta


def transcript_from_subtitles(meta: VideoMeta) -> tuple:
    """(meta, Transcript) from the video's downloaded subtitle file. Raises StageError."""
    from curate.text import parse_subtitle_file

    return meta, parse_subtitle_file(meta.subtitle_path, meta.video_id)


class MakeTranscripts(beam.PTransform):
    """``transcribed, failures = downloaded | MakeTranscripts(asr_config)``: (VideoMeta, Transcript)
    per video; subtitle failures have stage "transcript", ASR failures stage "asr".
    asr_config: a curate.asr.AsrConfig (None: its defaults)."""

    def __init__(self, asr_config=None):
        super().__init__()
        self._asr = asr_config

    def expand(self, videos):
        from curate.asr import AsrConfig, TranscribeAudio, needs_asr

        with_subs, without = videos | "SubtitlesOrAsr" >> beam.Partition(lambda m, n: int(needs_asr(m)), 2)
        parsed, parse_failures = with_subs | "ParseSubtitles" >> ApplyStage(
            "transcript", transcript_from_subtitles
        )
        heard, asr_failures = without | "TranscribeAudio" >> TranscribeAudio(self._asr or AsrConfig())
        return (
            (parsed, heard) | "AllTranscripts" >> beam.Flatten(),
            (parse_failures, asr_failures) | "AllTranscriptFailures" >> beam.Flatten(),
        )


def given_span_clips(
    video_id: str, spans: Sequence, sentences: Sequence[Sentence], duration: Optional[float]
) -> list:
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
    from curate.text import transcript_to_clips

    meta, transcript = element
    sentences, spans = transcript_to_clips(transcript, meta.duration, recipe, punctuator=punctuator)
    if use_given_spans and meta.given_spans:
        spans = given_span_clips(meta.video_id, meta.given_spans, sentences, meta.duration)
    if not spans:
        raise StageError(
            "no_clips",
            f"{len(sentences)} sentences gave no clip of recipe {getattr(recipe, 'name', recipe)!r}",
            video_id=meta.video_id,
        )
    clips = sorted((clip_from_span(s, meta, transcript) for s in spans), key=lambda c: c.key)
    return meta, tuple(clips)


def _plan(element, punctuator, recipe, use_given_spans):
    return plan_video_clips(element, punctuator, recipe=recipe, use_given_spans=use_given_spans)


def _load_punctuator(name: Optional[str]):
    from curate.text import load_punctuator

    return load_punctuator(name)


class PlanClips(beam.PTransform):
    """``planned, failures = transcribed | PlanClips(recipe)``: (VideoMeta, tuple[Clip]) per video;
    the punctuation model (if any) is loaded once per worker. Failures have stage "plan"."""

    def __init__(self, recipe, *, punctuator: Optional[str] = None, use_given_spans: bool = True):
        super().__init__()
        self._recipe, self._punctuator, self._given = recipe, punctuator, use_given_spans

    def expand(self, transcribed):
        fn = functools.partial(_plan, recipe=self._recipe, use_given_spans=self._given)
        return transcribed | ApplyStage(
            "plan", fn, setup=functools.partial(_load_punctuator, self._punctuator)
        )
