"""The text core of curation: subtitles or ASR words -> sentences with times -> planned clips.

Plain functions, no Beam in them. What the pipeline calls::

    transcript = parse_subtitle_file(path, video_id)                 # or transcript_from_asr(...)
    punctuator = load_punctuator(name_or_path)                       # once per worker; None = fallback
    sentences, spans = transcript_to_clips(transcript, duration, vidla_recipe(), punctuator)

Bad input raises TranscriptError (a curate.errors.StageError) naming the file and the problem.
Importing this package is cheap: numba and punctuators load on first use.
"""

from __future__ import annotations

from typing import Optional

from curate.text.align import align_sentences
from curate.text.asr import transcript_from_asr
from curate.text.clips import (
    RECIPES,
    ClipRecipe,
    ScaleSpec,
    hdvila_recipe,
    plan_clips,
    video_scale,
    vidla_recipe,
    with_video_scale,
)
from curate.text.punctuation import Punctuator, PunctuatorError, load_punctuator
from curate.text.sentences import PauseSegmenter, clamp_to_duration, make_sentences
from curate.text.stats import clip_statistics, format_statistics
from curate.text.subtitles import parse_subtitle_file
from curate.text.words import TranscriptError
from schemas import ClipSpan, Sentence, Transcript

# A transcript whose words start past this many times the video's duration (plus a minute) is not
# the video's: a typed error rather than clips from a few words that happen to fall inside.
_FAR_PAST_END, _FAR_PAST_END_SECONDS = 2.0, 60.0


def transcript_to_clips(
    transcript: Transcript,
    duration: Optional[float],
    recipe: ClipRecipe,
    punctuator: Optional[Punctuator] = None,
    pause_config: PauseSegmenter = PauseSegmenter(),
) -> tuple[list[Sentence], list[ClipSpan]]:
    """(sentences with aligned times, planned clip spans of every scale of the recipe).
    pause_config: the pause segmenter's settings and the length cap of given sentences.

    Sentences past the video's ``duration`` are dropped and ends cut at it (None: no limit).
    Raises TranscriptError when the transcript has no words, runs far past the video's end (it is
    another video's, or its clock is off) or has no sentence inside the video.
    """
    last = transcript.words[-1].start if transcript.words else 0.0
    if duration is not None and last > _FAR_PAST_END * duration + _FAR_PAST_END_SECONDS:
        raise TranscriptError(
            "bad_timestamps",
            f"{transcript.source}: words run to {last:.0f}s, far past the video's end ({duration:.0f}s)",
            video_id=transcript.video_id,
        )
    sentences = clamp_to_duration(make_sentences(transcript, punctuator, pause_config), duration)
    if not sentences:
        raise TranscriptError(
            "no_sentences",
            f"{transcript.source}: no sentence starts before the video's end ({duration}s)",
            video_id=transcript.video_id,
        )
    return sentences, plan_clips(transcript.video_id, sentences, duration, recipe)


__all__ = [
    "RECIPES",
    "ClipRecipe",
    "PauseSegmenter",
    "Punctuator",
    "PunctuatorError",
    "ScaleSpec",
    "TranscriptError",
    "align_sentences",
    "clip_statistics",
    "format_statistics",
    "hdvila_recipe",
    "load_punctuator",
    "make_sentences",
    "parse_subtitle_file",
    "plan_clips",
    "transcript_from_asr",
    "transcript_to_clips",
    "video_scale",
    "vidla_recipe",
    "with_video_scale",
]
