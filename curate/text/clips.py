"""Clip planning: consecutive sentences grouped into clips of a target length, cut at sentence
boundaries, at one or more scales.

HD-VILA-100M (section 3.2): one clip per sentence, short sentences merged with their neighbours;
~13.4 s per clip on average. YT-VidLA-800M (section 3, table 1): three scales, short (13.2 s mean),
medium (30.4 s) and long (60.3 s), each cut at sentence boundaries. The long-video recipe (seed 003)
trains its second stage on whole videos of up to 4.3 minutes: the ``video`` scale (``with_video_scale``)
adds to any recipe the whole transcribed video, or consecutive windows of it, each at most
``max_seconds`` long.

Within a scale the planner walks the sentences in order and closes the current clip before the
next sentence when the clip is already at least ``min_seconds`` long and adding the sentence would
take it further from ``target_seconds`` (or past ``max_seconds``). A clip ends at its last
sentence's end and never past the video's end. A clip that still falls outside
[min_seconds, max_seconds] (a lone over-long sentence, a short remnant at the end that could not be
merged) is left out of that scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

from schemas import SCALES, ClipSpan, Sentence


@dataclass(frozen=True)
class ScaleSpec:
    scale: str  # one of schemas.SCALES
    target_seconds: float  # the clip length the planner steers towards
    min_seconds: float  # shorter groups take the next sentence; shorter final clips are left out
    max_seconds: float  # no clip is longer

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"unknown scale {self.scale!r}; expected one of {SCALES}")
        if not 0 < self.min_seconds <= self.target_seconds <= self.max_seconds:
            raise ValueError(
                f"scale {self.scale}: need 0 < min <= target <= max, got "
                f"{self.min_seconds}, {self.target_seconds}, {self.max_seconds}"
            )


@dataclass(frozen=True)
class ClipRecipe:
    name: str
    scales: tuple = field(default_factory=tuple)  # tuple[ScaleSpec, ...]


def hdvila_recipe(target_seconds: float = 13.4, min_seconds: float = 4.0, max_seconds: float = 60.0) -> ClipRecipe:
    """HD-VILA-100M: sentence clips, short ones merged with their neighbours (13.4 s mean)."""
    return ClipRecipe("hdvila", (ScaleSpec("sentence", target_seconds, min_seconds, max_seconds),))


def vidla_recipe() -> ClipRecipe:
    """YT-VidLA-800M table 1: short 13.2 s, medium 30.4 s, long 60.3 s mean clip length."""
    return ClipRecipe(
        "vidla",
        (
            ScaleSpec("short", 13.2, 5.0, 25.0),
            ScaleSpec("medium", 30.4, 18.0, 50.0),
            ScaleSpec("long", 60.3, 40.0, 100.0),
        ),
    )


RECIPES = {"hdvila": hdvila_recipe, "vidla": vidla_recipe}

VIDEO_SECONDS = 256.0  # seed 003: up to 4.3 minutes of video at 1 FPS (256 frames)


def video_scale(max_seconds: float = VIDEO_SECONDS, min_seconds: float = 10.0) -> ScaleSpec:
    """Whole videos, or windows of at most ``max_seconds`` cut at sentence boundaries.

    The target is the maximum, so a window takes every next sentence that still fits: a video whose
    speech spans at most ``max_seconds`` is one clip from its first sentence to its last, a longer one
    is cut into consecutive full windows (a short remnant joins the window before it when that fits).
    Windows shorter than ``min_seconds`` are left out."""
    return ScaleSpec("video", max_seconds, min(min_seconds, max_seconds), max_seconds)


def with_video_scale(recipe: ClipRecipe, max_seconds: float = VIDEO_SECONDS, min_seconds: float = 10.0) -> ClipRecipe:
    """``recipe`` with the ``video`` scale added after its own scales."""
    if any(spec.scale == "video" for spec in recipe.scales):
        raise ValueError(f"recipe {recipe.name} already has a video scale")
    return ClipRecipe(recipe.name, recipe.scales + (video_scale(max_seconds, min_seconds),))


def group_sentences(sentences: Sequence[Sentence], spec: ScaleSpec) -> list[list[Sentence]]:
    groups: list[list[Sentence]] = []
    target, shortest, longest = spec.target_seconds, spec.min_seconds, spec.max_seconds
    start = end = 0.0  # of the current group
    for sentence in sentences:
        if groups:
            now = end - start
            joined = sentence.end - start
            further = abs(joined - target) >= abs(now - target)
            if joined <= longest and (now < shortest or not further):
                groups[-1].append(sentence)
                end = sentence.end
                continue
        groups.append([sentence])
        start, end = sentence.start, sentence.end
    # a short remnant at the end joins the clip before it when that stays within bounds
    if len(groups) > 1:
        last, before = groups[-1], groups[-2]
        if last[-1].end - last[0].start < spec.min_seconds and last[-1].end - before[0].start <= spec.max_seconds:
            groups[-2:] = [before + last]
    return groups


def plan_scale(
    video_id: str, sentences: Sequence[Sentence], duration: Optional[float], spec: ScaleSpec
) -> list[ClipSpan]:
    spans = []
    for group in group_sentences(sentences, spec):
        start = group[0].start
        end = group[-1].end if duration is None else min(group[-1].end, duration)
        if spec.min_seconds <= end - start <= spec.max_seconds:
            spans.append(ClipSpan(video_id, spec.scale, len(spans), start, end, tuple(group)))
    return spans


def plan_clips(
    video_id: str, sentences: Sequence[Sentence], duration: Optional[float], recipe: ClipRecipe
) -> list[ClipSpan]:
    """The clips of every scale of the recipe, scale by scale, each scale in order of time.

    ``sentences`` must be ordered and not overlap (as make_sentences returns them)."""
    ordered = [s for s in sentences if duration is None or s.start < duration]
    return [span for spec in recipe.scales for span in plan_scale(video_id, ordered, duration, spec)]
