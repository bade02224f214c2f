"""A run's summary files: failures.jsonl, stats.json, report.md (and clips.parquet, see
curate.output.index), from merged totals and per-partition failure files. Nothing here holds more
than one partition: the totals are sums, the failures are merged by streaming sorted parts."""

from __future__ import annotations

import heapq
import json
import os
import tempfile

from curate.files import (
    exists,
    join,
    listdir,
    open_read,
    put_file_atomic,
    read_bytes,
    remove_tree,
    write_bytes_atomic,
)
from curate.output import failures as fail
from curate.output.index import HISTOGRAM_BIN_S
from curate.output.report import write_report
from curate.text.stats import statistics
from schemas import Failure

STANDING = os.path.join(".state", "standing")  # sorted parts of failures.jsonl, merged at the end
FAILURES_FILE = "failures.jsonl"
STATS_FILE = "stats.json"


def build_stats(totals: dict, outcome: dict, videos_in: int) -> dict:
    """stats.json from the merged index totals (curate.output.index.partition_totals) and the merged
    failure outcomes (curate.output.failures.video_outcome)."""

    clip_stats = statistics(totals["clips"])
    by_hours = sorted(totals["category_hours"].items(), key=lambda kv: (-kv[1], kv[0]))
    categories = {k: round(v, 6) for k, v in by_hours}
    histogram = {
        s: dict(sorted(bins.items(), key=lambda kv: int(kv[0])))
        for s, bins in sorted(totals["length_histogram"].items())
    }
    return {
        "counts": fail.video_counts(videos_in, clip_stats["all"]["videos"], outcome),
        "num_clips": totals["num_clips"],
        "num_shards": totals["num_shards"],
        "clips": clip_stats,
        "categories": categories,
        "clip_length_histogram": {"bin_s": HISTOGRAM_BIN_S, "clips": histogram},
    }


def previous_videos_in(out_dir: str):
    """videos_in of the existing stats.json (None without one)."""
    path = join(out_dir, STATS_FILE)
    if not exists(path):
        return None
    try:
        return json.loads(read_bytes(path))["counts"]["videos_in"]
    except (ValueError, KeyError, TypeError):
        return None


def write_stats(out_dir: str, stats: dict) -> None:
    write_bytes_atomic(join(out_dir, STATS_FILE), json.dumps(stats, indent=2, sort_keys=True).encode())
    write_report(out_dir, stats)


# ---------------------------------------------------------------------------------------------
# failures.jsonl: sorted parts, merged by streaming


def write_failure_part(out_dir: str, name: str, failures) -> str:
    """One sorted part of failures.jsonl (DIR/.state/standing/<name>.jsonl). Returns its path."""
    path = join(out_dir, STANDING, f"{name}.jsonl")
    write_bytes_atomic(path, fail.failures_jsonl(sorted(failures, key=fail.sort_key)))
    return path


def _read_part(path: str):
    with open_read(path) as f:
        for line in f:
            if line.strip():
                yield Failure(**json.loads(line))


def merge_failure_parts(out_dir: str) -> int:
    """failures.jsonl from the sorted parts, by a streaming merge (one line per part in memory);
    the parts are removed after. Returns the number of lines."""
    folder = join(out_dir, STANDING)
    parts = [join(folder, n) for n in listdir(folder) if n.endswith(".jsonl") and not n.startswith(".")]
    lines = 0
    with tempfile.TemporaryDirectory(prefix="curate-failures-") as tmp:
        local = os.path.join(tmp, FAILURES_FILE)
        with open(local, "w", encoding="utf-8") as out:
            for failure in heapq.merge(*(_read_part(p) for p in parts), key=fail.sort_key):
                out.write(fail.failure_line(failure))
                lines += 1
        put_file_atomic(local, join(out_dir, FAILURES_FILE))
    remove_tree(folder)
    return lines
