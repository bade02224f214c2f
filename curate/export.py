"""``python -m curate export DIR --format hdvila-jsonl|vidla-jsonl --output FILE``: the metadata-only
release of an output, as the papers publish it (ids, URLs, clip spans and texts; no media).

- hdvila-jsonl: one line per video, the HD-VILA-100M release form
  ``{"video_id", "url", "clip": [{"clip_id": "<key>.mp4", "span": ["HH:MM:SS.mmm", ...]}]}``, which
  ``curate run --input FILE`` reads back (curate.sources): its spans become the clips to cut;
- vidla-jsonl: one line per clip, ``{"video_id", "url", "clip_id", "scale", "start", "end",
  "subtitle", "sentences": [{"text", "start", "end"}], "frame_captions": [{"time", "text"}],
  "caption_summary", "subtitle_summary"}`` (times in seconds of the source video).

The index is read one partition at a time, so memory does not grow with the output. A FILE ending in
.gz is gzipped; it is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile

import pyarrow.compute as pc

from curate.files import exists, join, put_file_atomic
from curate.output.index import SHARDS, partition_paths, read_partition
from schemas.records import SCALES

FORMATS = ("hdvila-jsonl", "vidla-jsonl")
COLUMNS = [
    "key",
    "video_id",
    "url",
    "scale",
    "index",
    "start",
    "end",
    "subtitle",
    "sentences",
    "caption",
    "subtitle_summary",
    "frame_captions",
    "frame_times",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="output directory of a finished curation run")
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="hdvila-jsonl: one line per video with its clip spans (HD-VILA-100M release, "
        "readable by `curate run --input`); vidla-jsonl: one line per clip with its "
        "texts",
    )
    parser.add_argument("--output", required=True, metavar="FILE", help="the jsonl to write (.gz: gzipped)")
    parser.add_argument(
        "--scales",
        default="",
        metavar="S1,S2",
        help="export only the clips of these scales (e.g. short); default: every scale",
    )


def timestamp(seconds: float) -> str:
    """ "HH:MM:SS.mmm" of a time in seconds (the HD-VILA release's span form), rounded to the ms."""
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    return f"{hours:02d}:{minutes:02d}:{ms // 1000:02d}.{ms % 1000:03d}"


def hdvila_records(rows: list):
    """One record per video of `rows` (a partition's rows: a video is never split across shards)."""
    video = None
    for row in rows:
        if video is None or row["video_id"] != video["video_id"]:
            if video is not None:
                yield video
            video = {"video_id": row["video_id"], "url": row["url"] or "", "clip": []}
        video["clip"].append({"clip_id": f"{row['key']}.mp4", "span": [timestamp(row["start"]), timestamp(row["end"])]})
    if video is not None:
        yield video


def vidla_record(row: dict) -> dict:
    return {
        "video_id": row["video_id"],
        "url": row["url"] or "",
        "clip_id": row["key"],
        "scale": row["scale"],
        "start": row["start"],
        "end": row["end"],
        "subtitle": row["subtitle"] or "",
        "sentences": [{"text": s["text"], "start": s["start"], "end": s["end"]} for s in row["sentences"] or ()],
        "frame_captions": [
            {"time": t, "text": c} for t, c in zip(row["frame_times"] or (), row["frame_captions"] or ())
        ],
        "caption_summary": row["caption"],
        "subtitle_summary": row["subtitle_summary"],
    }


def records(out_dir: str, fmt: str, scales: tuple = ()):
    """The release's records, partition by partition, in shard and video order."""

    for path in partition_paths(out_dir):
        table = read_partition(path, columns=COLUMNS)
        if scales:
            table = table.filter(pc.is_in(table.column("scale"), value_set=pc.cast(list(scales), "string")))
        rows = table.sort_by([("video_id", "ascending"), ("scale", "ascending"), ("index", "ascending")])
        rows = rows.to_pylist()
        yield from hdvila_records(rows) if fmt == "hdvila-jsonl" else map(vidla_record, rows)


def export(out_dir: str, fmt: str, output: str, scales: tuple = ()) -> int:
    """Write the release to `output`; returns the number of lines."""

    lines = 0
    with tempfile.TemporaryDirectory(prefix="curate-export-") as tmp:
        local = os.path.join(tmp, "release.jsonl")
        opener = gzip.open if output.endswith(".gz") else open
        with opener(local, "wt", encoding="utf-8") as f:
            for record in records(out_dir, fmt, scales):
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
                lines += 1
        put_file_atomic(local, output)
    return lines


def main(args: argparse.Namespace) -> int:
    if not exists(join(args.directory, SHARDS)):
        raise SystemExit(f"error: {args.directory} has no shards/ (not the output of a curation run)")
    scales = tuple(s for s in args.scales.split(",") if s)

    unknown = [s for s in scales if s not in SCALES]
    if unknown:
        raise SystemExit(f"error: --scales: unknown scale(s) {', '.join(unknown)}; expected some of {SCALES}")
    lines = export(args.directory, args.format, args.output, scales)
    what = "videos" if args.format == "hdvila-jsonl" else "clips"
    print(f"{lines} {what} -> {args.output} ({args.format})")
    return 0
