"""Arrow schemas of the Parquet outputs, and conversion between records and tables."""

from __future__ import annotations

import pyarrow as pa

from schemas.records import SCHEMA_VERSION, Clip, Failure, Sentence

SENTENCE_TYPE = pa.struct(
    [
        ("text", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("num_words", pa.int32()),
        ("segmenter", pa.string()),
        ("speaker", pa.string()),  # schema 1.2; older sidecars read it as null (curate.output.index.conform)
    ]
)

REPAIR_TYPE = pa.struct([("kind", pa.string()), ("count", pa.int32())])

CLIP_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("video_id", pa.string()),
        ("scale", pa.string()),
        ("index", pa.int32()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("duration", pa.float64()),
        ("subtitle", pa.string()),
        ("sentences", pa.list_(SENTENCE_TYPE)),
        ("num_words", pa.int32()),
        ("caption", pa.string()),
        ("subtitle_summary", pa.string()),
        ("frame_captions", pa.list_(pa.string())),
        ("frame_times", pa.list_(pa.float64())),
        ("category", pa.string()),
        ("source_height", pa.int32()),
        ("height", pa.int32()),
        ("width", pa.int32()),
        ("transcript_source", pa.string()),
        ("transcript_repairs", pa.list_(REPAIR_TYPE)),
        ("url", pa.string()),
        ("shard", pa.string()),
        ("schema_version", pa.string()),
    ],
    metadata={"schema_version": SCHEMA_VERSION},
)
assert CLIP_SCHEMA.names == list(Clip._fields)

FAILURE_SCHEMA = pa.schema([(name, pa.string()) for name in Failure._fields])


_SENTENCE_FIELDS = [field.name for field in SENTENCE_TYPE]


def clip_to_row(clip: Clip) -> dict:
    row = clip._asdict()
    row["sentences"] = [{name: getattr(s, name) for name in _SENTENCE_FIELDS} for s in clip.sentences]
    row["frame_captions"] = list(clip.frame_captions)
    row["frame_times"] = list(clip.frame_times)
    row["transcript_repairs"] = [{"kind": kind, "count": n} for kind, n in clip.transcript_repairs]
    return row


def clips_to_table(clips) -> pa.Table:
    return pa.Table.from_pylist([clip_to_row(c) for c in clips], schema=CLIP_SCHEMA)


def row_to_clip(row: dict) -> Clip:
    row = dict(row)
    sentences = row["sentences"] or ()  # a sidecar older than schema 1.2 has no speaker: ""
    row["sentences"] = tuple(Sentence(**dict(s, speaker=s.get("speaker") or "")) for s in sentences)
    row["frame_captions"] = tuple(row["frame_captions"] or ())
    row["frame_times"] = tuple(row["frame_times"] or ())
    row["transcript_repairs"] = tuple((r["kind"], r["count"]) for r in row.get("transcript_repairs") or ())
    return Clip(**row)


def table_to_clips(table: pa.Table) -> list:
    version = (table.schema.metadata or {}).get(b"schema_version", SCHEMA_VERSION.encode()).decode()
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ValueError(f"clip table has schema version {version}, this code reads {SCHEMA_VERSION}")
    return [row_to_clip(r) for r in table.to_pylist()]
