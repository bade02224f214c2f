"""Statistics of a set of clips in the shape of VidLA table 1 (per scale: clips, length, subtitle
sentences and words, summarized subtitle words, captions and their words, summarized caption
words) and HD-VILA table 1 (videos, clips, sentences, mean clip length, sentence length, hours).

The statistics are built from sums that merge: ``clip_totals(table)`` over any part of the index
(one shard's sidecar, say), ``merge_totals`` over the parts, ``statistics(totals)`` at the end, so
that a distributed run never holds more than one part (curate.beam.finalize). Videos are counted
per part, which is exact because a video's clips are never split across shards.
``clip_statistics(clips)`` does the same for records in memory: schemas.ClipSpan or schemas.Clip
records, or rows of clips.parquet as dicts.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import SCALES

# a word is a run of what str.split() does not split on (Unicode white space)
_WORD = r"[^\t-\r\x{1c}-\x{1f}\x{85}\p{Z}]+"
# the columns the statistics read, with their types in CLIP_SCHEMA
_COLUMNS = pa.schema(
    [
        ("video_id", pa.string()),
        ("scale", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("sentences", pa.list_(pa.struct([("text", pa.string()), ("num_words", pa.int32())]))),
        ("caption", pa.string()),
        ("subtitle_summary", pa.string()),
        ("frame_captions", pa.list_(pa.string())),
        ("transcript_repairs", pa.list_(pa.struct([("kind", pa.string()), ("count", pa.int32())]))),
    ]
)
# sums per scale, in the order statistics() reads them
_SUMS = (
    "clips",
    "videos",
    "length_s",
    "sentences",
    "subtitle_words",
    "summarized_subtitles",
    "summarized_subtitle_words",
    "captions",
    "caption_words",
    "summarized_captions",
    "summarized_caption_words",
)


def _get(clip, name, default=None):
    return clip.get(name, default) if isinstance(clip, dict) else getattr(clip, name, default)


def _word_counts(strings: pa.Array) -> np.ndarray:
    """Words of each string (0 for null), as len(s.split()) counts them."""
    return pc.fill_null(pc.count_substring_regex(strings, _WORD), 0).to_numpy(zero_copy_only=False)


def _per_row(values: np.ndarray, lists: pa.Array, rows: int) -> np.ndarray:
    """Sum of per-item values over each row's list."""
    return np.bincount(pc.list_parent_indices(lists).to_numpy(), weights=values, minlength=rows)


def _non_empty(strings: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.greater(pc.utf8_length(strings), 0), False).to_numpy(zero_copy_only=False)


def clip_totals(table: pa.Table) -> dict:
    """The mergeable sums of the clips of `table` (a CLIP_SCHEMA table or one with _COLUMNS)."""
    rows = table.num_rows
    if rows == 0:
        return {"scales": {}, "all": dict.fromkeys(_SUMS, 0), "repairs": _no_repairs()}
    sentences = table.column("sentences").combine_chunks()
    flat = pc.list_flatten(sentences)
    sentence_words = pc.cast(pc.struct_field(flat, "num_words"), pa.int64())
    if sentence_words.null_count:  # rows written without the count: count the text's words
        counted = pc.cast(pc.count_substring_regex(pc.struct_field(flat, "text"), _WORD), pa.int64())
        sentence_words = pc.fill_null(sentence_words, counted)
    captions = table.column("frame_captions").combine_chunks()
    subtitle_summary = table.column("subtitle_summary").combine_chunks()
    caption = table.column("caption").combine_chunks()
    has_subtitle_summary, has_caption = _non_empty(subtitle_summary), _non_empty(caption)
    per_row = {
        "clips": np.ones(rows),
        "length_s": (pc.subtract(table.column("end"), table.column("start"))).to_numpy(),
        "sentences": pc.fill_null(pc.list_value_length(sentences), 0).to_numpy(zero_copy_only=False),
        "subtitle_words": _per_row(sentence_words.to_numpy(zero_copy_only=False), sentences, rows),
        "summarized_subtitles": has_subtitle_summary,
        "summarized_subtitle_words": np.where(has_subtitle_summary, _word_counts(subtitle_summary), 0),
        "captions": pc.fill_null(pc.list_value_length(captions), 0).to_numpy(zero_copy_only=False),
        "caption_words": _per_row(_word_counts(pc.list_flatten(captions)), captions, rows),
        "summarized_captions": has_caption,
        "summarized_caption_words": np.where(has_caption, _word_counts(caption), 0),
    }
    scales = table.column("scale").combine_chunks()
    video_ids = table.column("video_id").combine_chunks()

    def sums(mask) -> dict:
        out = {k: float(v[mask].sum()) if k == "length_s" else int(round(v[mask].sum())) for k, v in per_row.items()}
        out["videos"] = pc.count_distinct(video_ids.filter(pa.array(mask))).as_py()
        return out

    by_scale = {s: sums(pc.equal(scales, s).to_numpy(zero_copy_only=False)) for s in pc.unique(scales).to_pylist()}
    return {"scales": by_scale, "all": sums(np.ones(rows, bool)), "repairs": _repairs(table, video_ids)}


def _no_repairs() -> dict:
    return {"videos": 0, "videos_repaired": 0, "by_kind": {}}


def _repairs(table: pa.Table, video_ids: pa.Array) -> dict:
    """Each video once: its clips all carry the video's transcript repairs."""
    codes = pc.dictionary_encode(video_ids).indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(codes, return_index=True)
    per_video = table.column("transcript_repairs").take(pa.array(first)).to_pylist()
    by_kind = Counter()
    for repairs in per_video:
        for r in repairs or ():
            by_kind[r["kind"]] += int(r["count"])
    return {"videos": len(per_video), "videos_repaired": sum(1 for r in per_video if r), "by_kind": dict(by_kind)}


def _add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}


def merge_totals(a: dict, b: dict) -> dict:
    """The totals of two disjoint sets of clips (no video in both)."""
    scales = {s: _add(a["scales"].get(s, {}), b["scales"].get(s, {})) for s in a["scales"].keys() | b["scales"].keys()}
    repairs = {
        "videos": a["repairs"]["videos"] + b["repairs"]["videos"],
        "videos_repaired": a["repairs"]["videos_repaired"] + b["repairs"]["videos_repaired"],
        "by_kind": _add(a["repairs"]["by_kind"], b["repairs"]["by_kind"]),
    }
    return {"scales": scales, "all": _add(a["all"], b["all"]), "repairs": repairs}


def empty_totals() -> dict:
    return clip_totals(_COLUMNS.empty_table())


def _ratio(num, den, none_if_empty=False):
    if not den:
        return None if none_if_empty else 0.0
    return num / den


def _scale_stats(t: dict) -> dict:
    return {
        "clips": t["clips"],
        "videos": t["videos"],
        "hours": t["length_s"] / 3600.0,
        "mean_length_s": _ratio(t["length_s"], t["clips"]),
        "sentences": t["sentences"],
        "sentences_per_clip": _ratio(t["sentences"], t["clips"]),
        "words_per_clip": _ratio(t["subtitle_words"], t["clips"]),
        "words_per_sentence": _ratio(t["subtitle_words"], t["sentences"]),
        "summarized_subtitle_words": _ratio(t["summarized_subtitle_words"], t["summarized_subtitles"], True),
        "captions_per_clip": _ratio(t["captions"], t["clips"]),
        "words_per_clip_captions": _ratio(t["caption_words"], t["clips"]),
        "summarized_caption_words": _ratio(t["summarized_caption_words"], t["summarized_captions"], True),
    }


def statistics(totals: dict) -> dict:
    """{"scales": {scale: stats}, "all": stats, "transcript_repairs": {"videos", "videos_repaired",
    "by_kind"}} from merged totals; scales in schemas.SCALES order, only those present. A video's
    transcript repairs count once (every clip of a video carries the same)."""
    present = totals["scales"]
    order = [s for s in SCALES if s in present] + sorted(s for s in present if s not in SCALES)
    repairs = dict(totals["repairs"], by_kind=dict(sorted(totals["repairs"]["by_kind"].items())))
    return {
        "scales": {s: _scale_stats(dict.fromkeys(_SUMS, 0) | present[s]) for s in order},
        "all": _scale_stats(dict.fromkeys(_SUMS, 0) | totals["all"]),
        "transcript_repairs": repairs,
    }


def clips_table(clips) -> pa.Table:
    """The columns the statistics read, from clip records or clips.parquet rows."""
    rows = []
    for c in clips:
        rows.append(
            {
                "video_id": _get(c, "video_id"),
                "scale": _get(c, "scale"),
                "start": _get(c, "start"),
                "end": _get(c, "end"),
                "sentences": [
                    {"text": _get(s, "text"), "num_words": _get(s, "num_words")} for s in (_get(c, "sentences") or ())
                ],
                "caption": _get(c, "caption"),
                "subtitle_summary": _get(c, "subtitle_summary"),
                "frame_captions": list(_get(c, "frame_captions") or ()),
                "transcript_repairs": [
                    r if isinstance(r, dict) else {"kind": r[0], "count": r[1]}
                    for r in (_get(c, "transcript_repairs") or ())
                ],
            }
        )
    return pa.Table.from_pylist(rows, schema=_COLUMNS)


def clip_statistics(clips) -> dict:
    """statistics() of clip records or clips.parquet rows held in memory."""
    return statistics(clip_totals(clips_table(clips)))


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
