"""Filter probed videos (HD-VILA section 3.1): >= 720p, English subtitles or else audio for ASR,
duration bounds, wanted languages, and the per-category hour cap that balances categories.

``check_video`` says why a video is dropped; ``FilterVideos`` turns every drop into a Failure
(stage "filter") and a Beam counter per reason. ``CapCategoryHours`` keeps, per category, the videos
with the smallest stable hash of their id while their hours add up to at most the cap, so the same
videos are kept whatever the runner, the parallelism or the input order.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Optional

import apache_beam as beam

from curate.errors import StageError
from curate.stages import ApplyStage
from schemas import Failure, VideoMeta


@dataclass(frozen=True)
class FilterConfig:
    min_height: int = 720  # best available (or downloaded) height
    min_duration_s: float = 10.0
    max_duration_s: Optional[float] = None  # None: no upper bound
    languages: tuple = ("en",)  # wanted spoken languages (ISO 639-1); empty: any; unknown passes
    # keep a video without English subtitles when it has audio (ASR makes the transcript)
    allow_asr: bool = True
    category_hour_cap: Optional[float] = None  # HD-VILA used 30_000 hours; None: no cap

    def __post_init__(self) -> None:
        problems = []
        if self.min_height < 0:
            problems.append(f"min_height must be >= 0, got {self.min_height}")
        if self.min_duration_s < 0:
            problems.append(f"min_duration must be >= 0, got {self.min_duration_s}")
        if self.max_duration_s is not None and self.max_duration_s < self.min_duration_s:
            problems.append(f"max_duration {self.max_duration_s} is below min_duration {self.min_duration_s}")
        if self.category_hour_cap is not None and self.category_hour_cap <= 0:
            problems.append(f"category_hour_cap must be > 0 hours, got {self.category_hour_cap}")
        if problems:
            raise ValueError("; ".join(problems))


def check_video(meta: VideoMeta, cfg: FilterConfig) -> tuple[bool, str]:
    """(True, "") to keep the video, else (False, reason)."""
    if meta.duration is None:
        return False, "not_probed"
    if meta.duration < cfg.min_duration_s:
        return False, "too_short"
    if cfg.max_duration_s is not None and meta.duration > cfg.max_duration_s:
        return False, "too_long"
    if meta.height is None:
        return False, "unknown_resolution"
    if meta.height < cfg.min_height:
        return False, f"below_{cfg.min_height}p"
    if cfg.languages and meta.language and meta.language not in cfg.languages:
        return False, "language_not_wanted"
    if not meta.subtitle_kind and not meta.subtitle_path and not (cfg.allow_asr and meta.has_audio):
        return False, "no_english_subtitles_or_audio"
    return True, ""


def _keep_or_raise(meta: VideoMeta, cfg: FilterConfig) -> VideoMeta:
    keep, reason = check_video(meta, cfg)
    if not keep:
        raise StageError(reason, _detail(meta, reason), video_id=meta.video_id)
    return meta


def _detail(meta: VideoMeta, reason: str) -> str:
    return (f"{reason}: height={meta.height} duration={meta.duration} language={meta.language!r} "
            f"subtitles={meta.subtitle_kind or 'none'} audio={meta.has_audio}")


class FilterVideos(beam.PTransform):
    """``kept, failures = probed | FilterVideos(cfg)``: failures have stage "filter" and the reason;
    the counter ``filter/failed:<reason>`` counts each reason. Applies the category cap too when
    cfg.category_hour_cap is set."""

    def __init__(self, cfg: FilterConfig):
        super().__init__()
        self._cfg = cfg

    def expand(self, videos):
        kept, failures = videos | ApplyStage("filter", functools.partial(_keep_or_raise, cfg=self._cfg))
        if self._cfg.category_hour_cap is None:
            return kept, failures
        kept, capped = kept | CapCategoryHours(self._cfg.category_hour_cap)
        return kept, (failures, capped) | "AllFilterFailures" >> beam.Flatten()


# ---------------------------------------------------------------------------------------------
# the per-category hour cap


def stable_rank(video_id: str) -> tuple[int, str]:
    """The order in which a category's videos are admitted: a hash of the id (so no upload order or
    id pattern biases it), the id itself breaking ties."""
    # 7 bytes: below 2**63, so Beam encodes it as a plain varint
    return int.from_bytes(hashlib.sha1(video_id.encode()).digest()[:7], "big"), video_id


def category_cutoff(entries, cap_hours: float) -> Optional[tuple]:
    """entries: (video_id, duration_s) of one category. Returns the stable_rank of the last video
    kept (keep every video ranked <= it), or None when not even the first fits."""
    cap_s, total, cutoff = cap_hours * 3600.0, 0.0, None
    for rank, duration in sorted((stable_rank(v), d or 0.0) for v, d in entries):
        total += duration
        if total > cap_s:
            break
        cutoff = rank
    return cutoff


def within_cap(meta: VideoMeta, cutoffs: dict) -> bool:
    cutoff = cutoffs.get(meta.category)
    return cutoff is not None and stable_rank(meta.video_id) <= tuple(cutoff)


def cap_category_hours(videos, cap_hours: float) -> tuple[list, list]:
    """The cap on an in-memory list: (kept, failures). Same rule as CapCategoryHours."""
    by_category: dict = {}
    for v in videos:
        by_category.setdefault(v.category, []).append((v.video_id, v.duration))
    cutoffs = {c: category_cutoff(e, cap_hours) for c, e in by_category.items()}
    kept = [v for v in videos if within_cap(v, cutoffs)]
    return kept, [_cap_failure(v, cap_hours) for v in videos if not within_cap(v, cutoffs)]


def _cap_failure(meta: VideoMeta, cap_hours: float) -> Failure:
    detail = f"category {meta.category!r} already holds {cap_hours:g} hours"
    return Failure(meta.video_id, "filter", "category_cap", detail)


class _SplitByCap(beam.DoFn):
    def __init__(self, cap_hours: float):
        self._cap_hours = cap_hours
        self._dropped = beam.metrics.Metrics.counter("filter", "failed:category_cap")

    def process(self, meta: VideoMeta, cutoffs: dict):
        if within_cap(meta, cutoffs):
            yield meta
        else:
            self._dropped.inc()
            yield beam.pvalue.TaggedOutput("capped", _cap_failure(meta, self._cap_hours))


class CapCategoryHours(beam.PTransform):
    """``kept, failures = videos | CapCategoryHours(cap_hours)``.

    Only (category, id, duration) triples are grouped, one group per category; the cutoff per
    category goes back to the videos as a small side input, so the records themselves are never
    gathered on one worker.
    """

    def __init__(self, cap_hours: float):
        super().__init__()
        if cap_hours <= 0:
            raise ValueError(f"category hour cap must be > 0, got {cap_hours}")
        self._cap_hours = cap_hours

    def expand(self, videos):
        cap = self._cap_hours
        cutoffs = (
            videos
            | "KeyByCategory" >> beam.Map(lambda m: (m.category, (m.video_id, m.duration)))
            | "GroupByCategory" >> beam.GroupByKey()
            | "Cutoff" >> beam.MapTuple(lambda category, entries: (category, category_cutoff(entries, cap)))
        )
        out = videos | "SplitByCap" >> beam.ParDo(_SplitByCap(cap), beam.pvalue.AsDict(cutoffs)).with_outputs(
            "capped", main="kept")
        return out.kept, out.capped
