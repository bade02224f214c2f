"""``python -m curate check DIR``: verify a finished output the way ``fsck`` verifies a disk.

Every indexed clip is in its shard and every shard member is indexed; members decode (the mp4 opens
with a video stream whose frames are all there and the first decodes, the json parses and agrees with
the index, the txt is the clip's subtitle); stats.json counts what the index holds; no partial file
(temporary name, uncommitted shard, staging) is left.
Shards are read one at a time, streaming their tar, so memory does not grow with the output.
Prints a summary and exits 1 on any problem, naming the shard and clip.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import re
import sys
import tarfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from curate.files import exists, join, listdir, open_read, read_bytes
from curate.output.index import SHARDS, DamagedPartition, committed_shards, partition_path, read_partition

MEMBER_EXTS = ("mp4", "json", "txt")
_SHARD_FILE = re.compile(r"^\d+\.(tar|parquet)$")
# json fields that must agree with the index row (the rest are checked by the row's own schema)
JSON_FIELDS = ("key", "video_id", "scale", "index", "start", "end", "subtitle", "shard")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="output directory of a finished curation run")
    parser.add_argument(
        "--no-media",
        dest="media",
        action="store_false",
        help="do not open the mp4 members (only that they exist and are not empty)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="check N shards at a time, in N processes (default %(default)s)",
    )
    parser.add_argument(
        "--max-problems",
        type=int,
        default=50,
        metavar="N",
        help="print at most N problems (all are counted; default %(default)s)",
    )


class Problems:
    """Problems counted by kind; the first `limit` are printed (echo) or kept to be merged (a worker's)."""

    def __init__(self, limit: int, echo: bool = True):
        self.limit, self.echo, self.kinds, self.lines = limit, echo, Counter(), []

    def add(self, kind: str, where: str, detail: str) -> None:
        self.kinds[kind] += 1
        self._line(f"{where}: {detail}")

    def _line(self, line: str) -> None:
        if len(self.lines) < self.limit:
            self.lines.append(line)
            if self.echo:
                print(line, file=sys.stderr)

    def merge(self, other: "Problems") -> None:
        self.kinds.update(other.kinds)
        for line in other.lines:
            self._line(line)

    def __bool__(self):
        return bool(self.kinds)


def mp4_problem(data: bytes) -> str:
    """Why `data` is not a whole mp4 with a video stream, or "": it opens, every video packet its
    sample table lists is there (a cut short file loses the last ones) and the first frame decodes."""
    import av  # heavy: PyAV, only where media is decoded

    if not data:
        return "is empty"
    try:
        with av.open(io.BytesIO(data), format="mp4") as container:
            if not container.streams.video:
                return "has no video stream"
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1  # a decoder's threads cost more to start than one frame
            packets, decoded = 0, False
            for packet in container.demux(stream):
                packets += bool(packet.size)
                decoded = decoded or bool(packet.decode())  # the flush packet at the end decodes the rest
            if stream.frames and packets < stream.frames:
                return f"is cut short: {packets} of its {stream.frames} video frames are there"
            if not decoded:
                return "has no frame that decodes"
    except (av.FFmpegError, ValueError, OSError) as exc:
        return f"does not open: {exc}"
    return ""


def check_leftovers(out_dir: str, problems: Problems) -> None:
    """Partial files: staging, temporary names, a tar without its sidecar (or the reverse)."""

    if exists(join(out_dir, ".staging")) and listdir(join(out_dir, ".staging")):
        problems.add("partial", ".staging", "staged clips not yet in a shard (an unfinished run: rerun it)")
    for name in listdir(out_dir):
        if name.startswith(".") and ".tmp-" in name:
            problems.add("partial", name, "temporary file left by an interrupted write")
    names = set(listdir(join(out_dir, SHARDS)))
    for name in sorted(names):
        stem, _, ext = name.rpartition(".")
        if ".tmp-" in name:
            problems.add("partial", f"{SHARDS}/{name}", "temporary file left by an interrupted write")
        elif not _SHARD_FILE.match(name):
            problems.add("partial", f"{SHARDS}/{name}", "not a shard file (temporary or foreign)")
        elif ext == "tar" and f"{stem}.parquet" not in names:
            problems.add("partial", f"{SHARDS}/{name}", "shard without its index sidecar (uncommitted)")
        elif ext == "parquet" and f"{stem}.tar" not in names:
            problems.add("missing", f"{SHARDS}/{name}", "index sidecar without its shard tar")


def check_shard(out_dir: str, shard: str, media: bool, max_problems: int) -> tuple:
    """Check one committed shard against its partition; returns its (problems, clips, videos, clips
    per scale)."""

    problems = Problems(max_problems, echo=False)
    where = f"{SHARDS}/{shard}.tar"
    try:
        table = read_partition(partition_path(out_dir, shard))
    except DamagedPartition as exc:
        problems.add("index", f"{SHARDS}/{shard}.parquet", f"index partition does not read: {exc}")
        return problems, 0, 0, Counter()
    rows = {r["key"]: r for r in table.select(list(JSON_FIELDS)).to_pylist()}
    if len(rows) != table.num_rows:
        problems.add("index", f"{SHARDS}/{shard}.parquet", "a key is indexed twice in this partition")
    for key, row in rows.items():
        if row["shard"] != f"{shard}.tar":
            problems.add("index", where, f"clip {key}: indexed as in shard {row['shard']!r}")
    seen: dict = {}
    try:
        with open_read(join(out_dir, SHARDS, f"{shard}.tar")) as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                key, _, ext = member.name.partition(".")
                if key not in rows:
                    problems.add("extra", where, f"member {member.name} is not in the index")
                    continue
                if ext not in MEMBER_EXTS or not member.isfile():
                    problems.add("extra", where, f"clip {key}: unexpected member {member.name}")
                    continue
                if ext in seen.setdefault(key, set()):
                    problems.add("extra", where, f"clip {key}: member {member.name} is in the tar twice")
                seen[key].add(ext)
                if ext == "mp4" and not media:
                    if not member.size:
                        problems.add("decode", where, f"clip {key}: {member.name} is empty")
                    continue
                data = tar.extractfile(member).read()
                detail = member_problem(ext, data, rows[key])
                if detail:
                    problems.add("decode", where, f"clip {key}: {member.name} {detail}")
    except (tarfile.TarError, OSError, EOFError) as exc:
        problems.add("decode", where, f"the tar does not read to its end: {exc}")
    for key in rows:
        missing = [e for e in MEMBER_EXTS if e not in seen.get(key, ())]
        if missing:
            problems.add("missing", where, f"clip {key}: no {', '.join('.' + e for e in missing)} member")
    videos = len(set(table.column("video_id").to_pylist()))
    return problems, table.num_rows, videos, Counter(table.column("scale").to_pylist())


def member_problem(ext: str, data: bytes, row: dict) -> str:
    if ext == "mp4":
        return mp4_problem(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is not UTF-8: {exc}"
    if ext == "txt":
        return "" if text == (row["subtitle"] or "") else "differs from the indexed subtitle"
    try:
        fields = json.loads(text)
    except ValueError as exc:
        return f"does not parse: {exc}"
    if not isinstance(fields, dict):
        return "is not a JSON object"
    differ = [f for f in JSON_FIELDS if fields.get(f) != row[f] and not (f == "subtitle" and not row[f])]
    return f"differs from the index in {', '.join(differ)}" if differ else ""


def check_failures(out_dir: str, problems: Problems) -> None:
    """failures.jsonl exists and each line is a failure record (read line by line)."""

    path = join(out_dir, "failures.jsonl")
    if not exists(path):
        problems.add("missing", "failures.jsonl", "missing (an unfinished run)")
        return
    with open_read(path) as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                ok = isinstance(record, dict) and all(k in record for k in ("video_id", "stage", "reason"))
            except ValueError:
                ok = False
            if not ok:
                problems.add("failures", f"failures.jsonl:line {number}", "is not a failure record")


def check_stats(out_dir: str, totals: dict, problems: Problems) -> None:
    path = join(out_dir, "stats.json")
    if not exists(path):
        problems.add("stats", "stats.json", "missing (an unfinished run: rerun it, or `curate stats DIR`)")
        return
    try:
        stats = json.loads(read_bytes(path))
        expected = {
            "num_clips": stats["num_clips"],
            "num_shards": stats["num_shards"],
            "clips per scale": {s: v["clips"] for s, v in stats["clips"]["scales"].items() if v.get("clips")},
            "videos_kept": stats["counts"]["videos_kept"],
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        problems.add("stats", "stats.json", f"does not read: {exc!r}")
        return
    for name, value in expected.items():
        if value != totals[name]:
            problems.add("stats", "stats.json", f"{name} is {value}, the index holds {totals[name]}")


def check(out_dir: str, *, media: bool = True, max_problems: int = 50, jobs: int = 1) -> Problems:
    problems = Problems(max_problems)
    check_leftovers(out_dir, problems)
    check_failures(out_dir, problems)
    shards = committed_shards(out_dir)
    totals = {"num_clips": 0, "num_shards": len(shards), "clips per scale": Counter(), "videos_kept": 0}
    one = functools.partial(check_shard, out_dir, media=media, max_problems=max_problems)
    pool = ProcessPoolExecutor(jobs) if jobs > 1 else None
    try:
        for found, clips, videos, scales in pool.map(one, shards) if pool else map(one, shards):
            problems.merge(found)
            totals["num_clips"] += clips
            totals["videos_kept"] += videos  # a video is never split across shards (curate.beam.shards)
            totals["clips per scale"].update(scales)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    totals["clips per scale"] = dict(totals["clips per scale"])
    check_stats(out_dir, totals, problems)
    print(
        f"{out_dir}: {len(shards)} shards, {totals['num_clips']} clips checked; "
        + (
            ", ".join(f"{n} {k}" for k, n in sorted(problems.kinds.items())) + " problem(s)"
            if problems
            else "no problems"
        )
    )
    return problems


def main(args: argparse.Namespace) -> int:
    if not exists(join(args.directory, SHARDS)):
        raise SystemExit(f"error: {args.directory} has no shards/ (not the output of a curation run)")
    if args.jobs < 1:
        raise SystemExit(f"error: --jobs must be at least 1, got {args.jobs}")
    return 1 if check(args.directory, media=args.media, max_problems=args.max_problems, jobs=args.jobs) else 0
