"""Statistics of a set of clips in the shape of VidLA table 1 (per scale: clips, length, subtitle
sentences and words, summarized subtitle words, captions and their words, summarized caption
words) and HD-VILA table 1 (videos, clips, sentences, mean clip length, sentence length, hours).

Clips may be schemas.ClipSpan or schemas.Clip records, or rows of clips.parquet as dicts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from schemas import SCALES


def _get(clip, name, default=None):
    return clip.get(name, default) if isinstance(clip, dict) else getattr(clip, name, default)


def _words(text) -> int:
    return len(text.split()) if text else 0


def _sentence_words(sentence) -> int:
    n = _get(sentence, "num_words")
    return int(n) if n is not None else _words(_get(sentence, "text", ""))


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _scale_stats(clips: list) -> dict:
    sentences = [s for c in clips for s in (_get(c, "sentences") or ())]
    lengths = [_get(c, "end") - _get(c, "start") for c in clips]
    subtitle_words = [sum(_sentence_words(s) for s in (_get(c, "sentences") or ())) for c in clips]
    captions = [list(_get(c, "frame_captions") or ()) for c in clips]
    summarized_subtitles = [_get(c, "subtitle_summary") for c in clips if _get(c, "subtitle_summary")]
    summarized_captions = [_get(c, "caption") for c in clips if _get(c, "caption")]
    return {
        "clips": len(clips),
        "videos": len({_get(c, "video_id") for c in clips}),
        "hours": sum(lengths) / 3600.0,
        "mean_length_s": _mean(lengths),
        "sentences": len(sentences),
        "sentences_per_clip": _mean(len(_get(c, "sentences") or ()) for c in clips),
        "words_per_clip": _mean(subtitle_words),
        "words_per_sentence": _mean(_sentence_words(s) for s in sentences),
        "summarized_subtitle_words": _mean(_words(t) for t in summarized_subtitles)
        if summarized_subtitles
        else None,
        "captions_per_clip": _mean(len(c) for c in captions),
        "words_per_clip_captions": _mean(sum(_words(t) for t in c) for c in captions),
        "summarized_caption_words": _mean(_words(t) for t in summarized_captions)
        if summarized_captions
        else None,
    }


def transcript_repairs(clips: Iterable) -> dict:
    """{"videos": videos kept, "videos_repaired": those whose transcript needed repairs,
    "by_kind": {kind: repairs over all videos}} from the clips' transcript_repairs (the same for
    every clip of a video, so each video counts once)."""
    per_video = {}
    for clip in clips:
        repairs = _get(clip, "transcript_repairs") or ()
        per_video[_get(clip, "video_id")] = [
            (r["kind"], r["count"]) if isinstance(r, dict) else tuple(r) for r in repairs
        ]
    by_kind = Counter()
    for repairs in per_video.values():
        for kind, n in repairs:
            by_kind[kind] += int(n)
    return {
        "videos": len(per_video),
        "videos_repaired": sum(1 for repairs in per_video.values() if repairs),
        "by_kind": dict(sorted(by_kind.items())),
    }


def clip_statistics(clips: Iterable) -> dict:
    """{"scales": {scale: stats}, "all": stats, "transcript_repairs": see transcript_repairs}
    (stats keys: see _scale_stats); scales in schemas.SCALES order, only those present."""
    by_scale = defaultdict(list)
    everything = []
    for clip in clips:
        by_scale[_get(clip, "scale")].append(clip)
        everything.append(clip)
    order = [s for s in SCALES if s in by_scale] + sorted(s for s in by_scale if s not in SCALES)
    return {
        "scales": {s: _scale_stats(by_scale[s]) for s in order},
        "all": _scale_stats(everything),
        "transcript_repairs": transcript_repairs(everything),
    }


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def format_statistics(stats: dict) -> str:
    """Markdown tables: VidLA table 1 (per scale) and HD-VILA table 1 (totals)."""
    lines = [
        "| Clip scale | # clips | Length (s) | Subtitle # sent | Subtitle # words | Summarized # words "
        "| # cap | Caption # words | Summarized # words |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scale, s in stats["scales"].items():
        lines.append(
            f"| {scale} | {s['clips']} | {s['mean_length_s']:.1f} | {s['sentences_per_clip']:.1f} "
            f"| {s['words_per_clip']:.1f} | {_cell(s['summarized_subtitle_words'], '.1f')} "
            f"| {s['captions_per_clip']:.1f} | {s['words_per_clip_captions']:.1f} "
            f"| {_cell(s['summarized_caption_words'], '.1f')} |"
        )
    a = stats["all"]
    lines += [
        "",
        "| # videos | # clips | # sentences | Avg clip len (s) | Sent len (words) | Duration (h) |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {a['videos']} | {a['clips']} | {a['sentences']} | {a['mean_length_s']:.1f} "
        f"| {a['words_per_sentence']:.1f} | {a['hours']:.2f} |",
    ]
    repairs = stats.get("transcript_repairs")
    if repairs:
        kinds = ", ".join(f"{kind} {n}" for kind, n in repairs["by_kind"].items()) or "none"
        lines += [
            "",
            f"Transcript repairs: {repairs['videos_repaired']} of {repairs['videos']} videos had local "
            f"subtitle defects repaired instead of being dropped ({kinds}).",
        ]
    return "\n".join(lines)
