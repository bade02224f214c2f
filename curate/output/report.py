"""report.md and its plots: clip lengths per scale, and the category distribution (HD-VILA fig. 2)."""

from __future__ import annotations

import io
import json
from typing import Sequence

from curate.files import join, write_bytes_atomic
from curate.text import format_statistics
from schemas import SCALES

PLOTS = "plots"


def _pyplot():
    import matplotlib  # heavy: only the report's plots need matplotlib

    matplotlib.use("Agg")  # no display on workers and in CI
    import matplotlib.pyplot as plt  # heavy: only the report's plots need matplotlib

    return plt


def _png(fig) -> bytes:
    sink = io.BytesIO()
    fig.savefig(sink, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return sink.getvalue()


def clip_length_plot(histogram: dict) -> bytes:
    """One histogram of clip durations per scale, side by side, from stats.json's
    clip_length_histogram ({"bin_s": width, "clips": {scale: {bin: clips}}})."""
    plt = _pyplot()
    width, by_scale = histogram["bin_s"], histogram["clips"]
    scales = [s for s in SCALES if by_scale.get(s)] + sorted(s for s in by_scale if s not in SCALES)
    scales = scales or ["sentence"]
    fig, axes = plt.subplots(1, len(scales), figsize=(4 * len(scales), 3), squeeze=False)
    for ax, scale in zip(axes[0], scales):
        bins = by_scale.get(scale, {})
        edges = [int(b) * width for b in bins]
        ax.bar(edges, list(bins.values()), width=width, align="edge", color="#4477aa")
        ax.set_title(f"{scale} ({sum(bins.values())} clips)")
        ax.set_xlabel("clip length (s)")
    axes[0][0].set_ylabel("clips")
    return _png(fig)


def category_plot(hours_by_category: dict) -> bytes:
    """Share of video hours per category, largest first (HD-VILA-100M figure 2)."""
    plt = _pyplot()
    items = sorted(hours_by_category.items(), key=lambda kv: (-kv[1], kv[0])) or [("none", 0.0)]
    total = sum(h for _, h in items) or 1.0
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(items) + 1))
    ax.barh([k for k, _ in items][::-1], [100 * h / total for _, h in items][::-1], color="#cc6677")
    ax.set_xlabel("% of video hours")
    return _png(fig)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report_markdown(stats: dict) -> str:
    counts = stats["counts"]
    parts = [
        "# Dataset report",
        "",
        f"{stats['num_clips']} clips in {stats['num_shards']} shards from {counts['videos_kept']} videos "
        f"({counts['videos_in']} read, {counts['videos_failed']} dropped).",
        "",
        "## Clips (VidLA table 1 / HD-VILA table 1)",
        "",
        _clip_table(stats["clips"]),
        "",
        "![clip lengths per scale](plots/clip_lengths.png)",
        "",
        "## Categories (HD-VILA figure 2)",
        "",
        _table(["category", "hours"], [(k, f"{v:.3f}") for k, v in stats["categories"].items()]),
        "",
        "![category distribution](plots/categories.png)",
        "",
        "## Dropped",
        "",
        _table(["videos dropped at stage:reason", "videos"], list(counts["videos_failed_by_reason"].items())),
        "",
        _table(["clips dropped at stage:reason", "clips"], list(counts["clips_failed_by_reason"].items())),
        "",
    ]
    parts += ["## Made with", "", *_made_with_lines(stats.get("made_with") or {}), ""]
    if counts.get("damaged_shards"):
        parts += [
            f"{counts['damaged_shards']} shard(s) had a sidecar that could not be read: set aside into "
            ".state/damaged/ and their videos redone (failures.jsonl, stage index).",
            "",
        ]
    return "\n".join(parts)


def _made_with_lines(models: dict) -> list:
    """Which models made the texts, or that none did and the option that turns each on."""
    punctuator, asr = models.get("punctuator"), models.get("asr_model")
    caption, summary = models.get("caption_model"), models.get("summary_model")
    return [
        f"- sentences: punctuation model `{punctuator}`"
        if punctuator
        else "- sentences: no punctuation model; unpunctuated subtitles were cut at pauses "
        "(`--punctuator NAME_OR_DIR` restores punctuation, as both papers do)",
        f"- videos without subtitles: Whisper `{asr}` (faster-whisper)"
        if asr
        else "- videos without subtitles: no ASR model",
        f"- frame captions: `{caption}`"
        if caption
        else "- frame captions: none (`--caption-model`, BLIP-2, vidla recipe)",
        f"- summaries: `{summary}`" if summary else "- summaries: none (`--summary-model`, an LLM, vidla recipe)",
    ]


def _clip_table(clip_stats: dict) -> str:
    try:
        return format_statistics(clip_stats)
    except ImportError:
        return "```\n" + json.dumps(clip_stats, indent=2) + "\n```"


def write_report(out_dir: str, stats: dict) -> None:
    """DIR/report.md and DIR/plots/*.png from the stats."""

    lengths = clip_length_plot(stats["clip_length_histogram"])
    write_bytes_atomic(join(out_dir, PLOTS, "clip_lengths.png"), lengths)
    write_bytes_atomic(join(out_dir, PLOTS, "categories.png"), category_plot(stats["categories"]))
    write_bytes_atomic(join(out_dir, "report.md"), report_markdown(stats).encode())
