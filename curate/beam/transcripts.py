"""The transcript and plan-clips stages: subtitles or ASR -> Transcript -> sentences -> clips.

``MakeTranscripts`` parses the downloaded subtitles (curate.text.transcripts) and sends videos
without subtitles to ASR (TranscribeAudio over curate.models.asr, whose model loads only if one of
them arrives). ``PlanClips`` restores sentences and plans the recipe's clips, or takes the clips the
source gave (curate.text.transcripts.plan_video_clips): one element per video with all its clips,
the shape the annotation stage and the cut take.
"""

from __future__ import annotations

import functools
from typing import Optional

import apache_beam as beam

from curate.beam.stages import ApplyStage
from curate.models.asr import AsrConfig, ModelOnFirstUse, needs_asr, transcribe_video
from curate.text import load_punctuator
from curate.text.transcripts import plan_video_clips, transcript_from_subtitles
from schemas import VideoMeta


class MakeTranscripts(beam.PTransform):
    """``transcribed, failures = downloaded | MakeTranscripts(asr_config)``: (VideoMeta, Transcript)
    per video; subtitle failures have stage "transcript", ASR failures stage "asr".
    asr_config: a curate.models.asr.AsrConfig (None: its defaults); max_subtitle_bytes: the largest
    subtitle file read (None: curate.text.subtitles.MAX_SUBTITLE_BYTES)."""

    def __init__(self, asr_config=None, max_subtitle_bytes: Optional[int] = None):
        super().__init__()
        self._asr, self._max_subtitle_bytes = asr_config, max_subtitle_bytes

    def expand(self, videos):
        with_subs, without = videos | "SubtitlesOrAsr" >> beam.Partition(lambda m, n: int(needs_asr(m)), 2)
        parse = functools.partial(transcript_from_subtitles, max_bytes=self._max_subtitle_bytes)
        parsed, parse_failures = with_subs | "ParseSubtitles" >> ApplyStage("transcript", parse)
        heard, asr_failures = without | "TranscribeAudio" >> TranscribeAudio(self._asr or AsrConfig())
        return (
            (parsed, heard) | "AllTranscripts" >> beam.Flatten(),
            (parse_failures, asr_failures) | "AllTranscriptFailures" >> beam.Flatten(),
        )


def _plan(element, punctuator, recipe, use_given_spans):
    return plan_video_clips(element, punctuator, recipe=recipe, use_given_spans=use_given_spans)


class PlanClips(beam.PTransform):
    """``planned, failures = transcribed | PlanClips(recipe)``: (VideoMeta, tuple[Clip]) per video;
    the punctuation model (if any) is loaded once per worker. Failures have stage "plan"."""

    def __init__(self, recipe, *, punctuator: Optional[str] = None, use_given_spans: bool = True):
        super().__init__()
        self._recipe, self._punctuator, self._given = recipe, punctuator, use_given_spans

    def expand(self, transcribed):
        fn = functools.partial(_plan, recipe=self._recipe, use_given_spans=self._given)
        return transcribed | ApplyStage("plan", fn, setup=functools.partial(load_punctuator, self._punctuator))


def _transcribe(meta: VideoMeta, model, cfg: AsrConfig) -> tuple:
    return meta, transcribe_video(meta, model, cfg)


class TranscribeAudio(beam.PTransform):
    """``pairs, failures = videos | TranscribeAudio(cfg)``: (VideoMeta, Transcript) pairs; the model
    loads once per worker, on the first video; failures have stage "asr"."""

    def __init__(self, cfg: AsrConfig = AsrConfig()):
        super().__init__()
        self._cfg = cfg

    def expand(self, videos):
        return videos | ApplyStage(
            "asr", functools.partial(_transcribe, cfg=self._cfg), setup=functools.partial(ModelOnFirstUse, self._cfg)
        )
