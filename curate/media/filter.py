"""Filter probed videos (HD-VILA section 3.1): >= 720p, English subtitles or else audio for ASR,
duration bounds, wanted languages, and the per-category hour cap that balances categories.

``check_video`` says why a video is dropped; ``keep_or_raise`` turns a drop into a StageError
(curate.beam.videos.FilterVideos makes it a Failure, stage "filter", and a Beam counter per reason).
The category cap keeps, per category, the videos with the smallest stable hash of their id while
their hours add up to at most the cap, so the same videos are kept whatever the runner, the
parallelism or the input order (``cap_category_hours`` in memory, CapCategoryHours in Beam).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

from curate.errors import StageError
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


def keep_or_raise(meta: VideoMeta, cfg: FilterConfig) -> VideoMeta:
    keep, reason = check_video(meta, cfg)
    if not keep:
        raise StageError(reason, _detail(meta, reason), video_id=meta.video_id)
    return meta


def _detail(meta: VideoMeta, reason: str) -> str:
    return (
        f"{reason}: height={meta.height} duration={meta.duration} language={meta.language!r} "
        f"subtitles={meta.subtitle_kind or 'none'} audio={meta.has_audio}"
    )


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
    return kept, [cap_failure(v, cap_hours) for v in videos if not within_cap(v, cutoffs)]


def cap_failure(meta: VideoMeta, cap_hours: float) -> Failure:
    detail = f"category {meta.category!r} already holds {cap_hours:g} hours"
    return Failure(meta.video_id, "filter", "category_cap", detail)
