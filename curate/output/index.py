"""The index of an output directory: a partitioned Parquet dataset, one partition per committed shard.

Each shard's sidecar (DIR/shards/NNNNN.parquet, one row per sample of NNNNN.tar, CLIP_SCHEMA) is a
partition of the index; together they are the index, read with ``pyarrow.dataset`` (``open_index``),
DuckDB (``shards/*.parquet``) or one partition at a time (``read_partition``). DIR/clips.parquet is a
convenience copy of the whole index in one file for small and medium runs, written by streaming the
partitions in row groups (``write_index_file``) and optional (``--no-clips-parquet``): nothing in this
project needs it.

Sidecars are renamed into place last, under names that start with a digit, so a partition exists only
once its shard is committed, and the dot-prefixed temporary files are ignored by pyarrow.dataset.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow.fs import FileInfo, FileSystemHandler, FileType, PyFileSystem

from curate.files import (
    _local,
    exists,
    is_local,
    join,
    listdir,
    put_file_atomic,
    read_bytes,
    remove_file,
    size_and_mtime,
    write_bytes_atomic,
)
from curate.output.failures import STATE_FAILURES
from curate.text.stats import clip_totals
from curate.text.stats import merge_totals as merge_clips
from schemas import CLIP_SCHEMA

SHARDS = "shards"
INDEX_FILE = "clips.parquet"
DAMAGED = os.path.join(".state", "damaged")
HISTOGRAM_BIN_S = 1.0  # clip-length histograms (report plot) count clips per whole second


class DamagedPartition(Exception):
    """A committed shard's sidecar that cannot be read as a CLIP_SCHEMA table."""


def committed_shards(out_dir: str) -> list:
    """Names of the committed shards (both the tar and its sidecar exist), sorted."""
    names = set(listdir(join(out_dir, SHARDS)))
    return sorted(
        n[: -len(".parquet")]
        for n in names
        if n.endswith(".parquet") and not n.startswith(".") and n[: -len(".parquet")] + ".tar" in names
    )


def partition_path(out_dir: str, shard: str) -> str:
    return join(out_dir, SHARDS, f"{shard}.parquet")


def partition_paths(out_dir: str) -> list:
    """The index partitions (committed sidecars), in shard order."""
    return [partition_path(out_dir, name) for name in committed_shards(out_dir)]


def conform(table: pa.Table, schema: pa.Schema = CLIP_SCHEMA) -> pa.Table:
    """A sidecar as a table of `schema` (CLIP_SCHEMA or some of its columns): a column that joined
    the schema after it was written (e.g. transcript_repairs, schema 1.1) is added as nulls, so older
    outputs stay readable."""
    for column in schema:
        if column.name not in table.column_names:
            table = table.append_column(column.name, pa.nulls(len(table), column.type))
    return table.select(schema.names).cast(schema)


def read_partition(path: str, columns=None) -> pa.Table:
    """One partition as a CLIP_SCHEMA table ordered by key, or only its `columns` (in file order). A
    damaged file raises DamagedPartition naming it."""

    try:
        parquet = pq.ParquetFile(pa.BufferReader(read_bytes(path)))
        present = set(parquet.schema_arrow.names)
        table = parquet.read(columns=[c for c in columns if c in present] if columns else None)
        if columns:
            schema = pa.schema([CLIP_SCHEMA.field(c) for c in columns])
            return conform(table, schema)
        return conform(table).sort_by("key")
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        raise DamagedPartition(f"{path}: {exc}") from exc


def set_aside(out_dir: str, path: str) -> str:
    """Move a damaged partition and its tar out of the index into DIR/.state/damaged/ (kept for a
    look, never read again): the shard is no longer committed, so its videos are redone. Returns
    where the sidecar went. Moving a shard already moved is a no-op."""

    shard = os.path.basename(path)[: -len(".parquet")]
    moves = [  # the sidecar last: until it moves, the shard counts
        (join(out_dir, STATE_FAILURES, f"shard-{shard}.jsonl"), f"shard-{shard}.failures.jsonl"),
        (join(out_dir, SHARDS, f"{shard}.tar"), f"{shard}.tar"),
        (path, f"{shard}.parquet"),
    ]
    for src, name in moves:
        if not exists(src):
            continue
        target = join(out_dir, DAMAGED, name)
        if is_local(src):
            os.makedirs(os.path.dirname(_local(target)), exist_ok=True)
            os.replace(_local(src), _local(target))
        else:
            write_bytes_atomic(target, read_bytes(src))
            remove_file(src)
    return join(out_dir, DAMAGED, f"{shard}.parquet")


def open_index(out_dir: str):
    """The index as one ``pyarrow.dataset.Dataset`` over the committed partitions (CLIP_SCHEMA;
    columns missing in older partitions read as nulls). Local or on any Beam filesystem."""
    import pyarrow.dataset as ds  # heavy: pyarrow.dataset takes about a second to import

    paths = partition_paths(out_dir)
    if is_local(out_dir):
        return ds.dataset([_local(p) for p in paths], schema=CLIP_SCHEMA, format="parquet")

    return ds.dataset(paths, schema=CLIP_SCHEMA, format="parquet", filesystem=PyFileSystem(_BeamFiles()))


# clips.parquet's row groups gather partitions up to this many rows: one row group per partition
# would grow the file's footer (and the writer's memory) with every shard
INDEX_FILE_ROW_GROUP = 32_768
# min/max statistics only where a reader filters (long texts would fill the footer)
INDEX_FILE_STATISTICS = [
    "key",
    "video_id",
    "scale",
    "index",
    "start",
    "end",
    "duration",
    "num_words",
    "category",
    "source_height",
    "height",
    "width",
    "shard",
]


def write_index_file(out_dir: str) -> int:
    """DIR/clips.parquet from the partitions, in shard and key order, streamed: at most one row
    group's worth of partitions in memory. Returns the number of rows."""

    rows, pending = 0, []
    with tempfile.TemporaryDirectory(prefix="curate-index-") as tmp:
        local = os.path.join(tmp, INDEX_FILE)
        with pq.ParquetWriter(local, CLIP_SCHEMA, write_statistics=INDEX_FILE_STATISTICS) as writer:
            for path in partition_paths(out_dir):
                pending.append(read_partition(path))
                if sum(t.num_rows for t in pending) >= INDEX_FILE_ROW_GROUP:
                    rows += _write_row_group(writer, pending)
                    pending = []
            rows += _write_row_group(writer, pending)
        put_file_atomic(local, join(out_dir, INDEX_FILE))
    return rows


def _write_row_group(writer, tables: list) -> int:
    if not tables:
        return 0
    table = pa.concat_tables(tables)
    writer.write_table(table, row_group_size=max(1, table.num_rows))
    return table.num_rows


# ---------------------------------------------------------------------------------------------
# statistics of the index, one partition at a time


STAT_COLUMNS = [
    "video_id",
    "scale",
    "start",
    "end",
    "duration",
    "sentences",
    "caption",
    "subtitle_summary",
    "frame_captions",
    "category",
    "transcript_repairs",
]


def partition_totals(table: pa.Table) -> dict:
    """The mergeable sums of one partition (or any set of whole videos) for stats.json: clip
    statistics (curate.text.stats), category hours, clip-length histograms, clips and shards."""

    return {
        "clips": clip_totals(table),
        "category_hours": _category_hours(table),
        "length_histogram": _length_histogram(table),
        "num_clips": table.num_rows,
        "num_shards": 1 if table.num_rows else 0,
    }


def empty_totals() -> dict:
    return partition_totals(CLIP_SCHEMA.empty_table())


def merge_totals(a: dict, b: dict) -> dict:
    ha, hb = a["length_histogram"], b["length_histogram"]
    histogram = {s: dict(Counter(ha.get(s, {})) + Counter(hb.get(s, {}))) for s in ha.keys() | hb.keys()}
    return {
        "clips": merge_clips(a["clips"], b["clips"]),
        "category_hours": dict(Counter(a["category_hours"]) + Counter(b["category_hours"])),
        "length_histogram": histogram,
        "num_clips": a["num_clips"] + b["num_clips"],
        "num_shards": a["num_shards"] + b["num_shards"],
    }


def _category_hours(table: pa.Table) -> dict:
    """Hours of distinct source video per category (clips of one video at several scales overlap,
    so a video counts once, over its longest scale's coverage)."""
    if not table.num_rows:
        return {}
    table = table.select(["video_id", "category", "scale", "duration"])
    table = table.set_column(1, "category", pa.compute.fill_null(table.column("category"), ""))
    per_scale = table.group_by(["video_id", "category", "scale"]).aggregate([("duration", "sum")])
    per_video = per_scale.group_by(["video_id", "category"]).aggregate([("duration_sum", "max")])
    hours = Counter()
    for category, seconds in zip(
        per_video.column("category").to_pylist(), per_video.column("duration_sum_max").to_pylist()
    ):
        hours[category or "unknown"] += seconds / 3600
    return dict(hours)


def _length_histogram(table: pa.Table) -> dict:
    """{scale: {bin: clips}}: clips per HISTOGRAM_BIN_S of duration (bin = its lower edge in bins)."""

    if not table.num_rows:
        return {}
    bins = pc.cast(pc.floor(pc.divide(table.column("duration"), HISTOGRAM_BIN_S)), pa.int64())
    counted = (
        pa.table({"scale": table.column("scale"), "bin": bins}).group_by(["scale", "bin"]).aggregate([("bin", "count")])
    )
    histogram: dict = {}
    for scale, b, n in zip(*(counted.column(c).to_pylist() for c in ("scale", "bin", "bin_count"))):
        histogram.setdefault(scale, {})[str(b)] = n  # str: the keys of stats.json
    return histogram


# ---------------------------------------------------------------------------------------------
# pyarrow.dataset over any Beam filesystem (gs://, s3://, the tests' memfs://), read only


def _beam_files_handler():
    class BeamFiles(FileSystemHandler):
        def get_type_name(self):
            return "beam"

        def normalize_path(self, path):
            return path

        def get_file_info(self, paths):
            infos = []
            for path in paths:
                if exists(path):
                    infos.append(FileInfo(path, FileType.File, size=size_and_mtime(path)[0]))
                else:
                    infos.append(FileInfo(path, FileType.NotFound))
            return infos

        def get_file_info_selector(self, selector):
            return [FileInfo(join(selector.base_dir, n), FileType.File) for n in listdir(selector.base_dir)]

        def open_input_file(self, path):
            return pa.BufferReader(read_bytes(path))

        def open_input_stream(self, path):
            return pa.BufferReader(read_bytes(path))

        def __eq__(self, other):
            return isinstance(other, BeamFiles)

        def __ne__(self, other):
            return not self == other

        def _read_only(self, *args):
            raise OSError("the index is read only through this filesystem")

        create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = _read_only
        delete_file = move = copy_file = open_output_stream = open_append_stream = _read_only

    return BeamFiles


def _BeamFiles():
    return _beam_files_handler()()
