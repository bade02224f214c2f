"""A real run's output read with the tools people already use (docs/pipeline.md, "Reading the output
with other tools"): webdataset.WebDataset, Hugging Face datasets' "webdataset" builder and DuckDB over
the index partitions. Each reads what the index says, member for member."""

from __future__ import annotations

import io
import json

import pytest

from curate.output import index


@pytest.fixture(scope="module")
def output(curated_run):
    """The session's real vidla run (factories.runs.make_curated_run): (output, shard paths, index rows)."""
    out = curated_run.out
    shards = [str(out / "shards" / f"{s}.tar") for s in index.committed_shards(str(out))]
    assert len(shards) >= 2
    rows = {r["key"]: r for r in index.open_index(str(out)).to_table().to_pylist()}
    return out, shards, rows


def first_frame(data: bytes):
    import av

    with av.open(io.BytesIO(data)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def test_webdataset_reads_every_clip(output):
    import webdataset as wds

    _, shards, rows = output
    seen = {}
    for sample in wds.WebDataset(shards, shardshuffle=False).decode():
        assert {"mp4", "json", "txt"} <= set(sample)
        seen[sample["__key__"]] = sample
    assert set(seen) == set(rows)
    for key, sample in seen.items():
        assert sample["json"]["key"] == key and sample["json"]["start"] == rows[key]["start"]
        assert sample["txt"] == rows[key]["subtitle"]
        assert first_frame(sample["mp4"]).shape[:2] == (rows[key]["height"], rows[key]["width"])


def test_hugging_face_datasets_loads_the_shards(output, tmp_path, monkeypatch):
    from datasets import Video, load_dataset

    _, shards, rows = output
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    data = load_dataset("webdataset", data_files={"train": shards}, split="train", cache_dir=str(tmp_path))
    data = data.cast_column("mp4", Video(decode=False))  # decoding needs torchcodec, not in the extras
    assert data.num_rows == len(rows)
    for sample in data:
        key = sample["__key__"]
        assert sample["json"]["key"] == key and sample["json"]["video_id"] == rows[key]["video_id"]
        assert sample["txt"] == rows[key]["subtitle"]
        assert first_frame(sample["mp4"]["bytes"]).shape[:2] == (rows[key]["height"], rows[key]["width"])


def test_hugging_face_datasets_with_the_features_of_the_contract(output, tmp_path):
    """A json field null in the first shards and text in a later one (a caption from a later run)
    loads with schemas.hf.webdataset_features (inferred types would be null)."""
    import shutil
    import tarfile

    from datasets import load_dataset

    from schemas.hf import webdataset_features

    _, shards, rows = output
    copies = [str(tmp_path / f"{i:05d}.tar") for i in range(len(shards))]
    for shard, copy in zip(shards[:-1], copies):
        shutil.copy(shard, copy)
    captioned = {}
    with tarfile.open(shards[-1]) as src, tarfile.open(copies[-1], "w") as dst:
        for member in src:
            data = src.extractfile(member).read()
            if member.name.endswith(".json"):
                fields = json.loads(data)
                fields["caption"] = captioned[fields["key"]] = f"a caption of {fields['key']}"
                data = json.dumps(fields).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    data = load_dataset(
        "webdataset",
        data_files={"train": copies},
        split="train",
        cache_dir=str(tmp_path / "cache"),
        features=webdataset_features(),
    )
    assert data.num_rows == len(rows)
    for sample in data:
        key = sample["__key__"]
        assert sample["json"]["caption"] == captioned.get(key)
        assert [s["text"] for s in sample["json"]["sentences"]] == [s["text"] for s in rows[key]["sentences"]]
        assert sample["mp4"]["bytes"]


def test_duckdb_queries_the_index_partitions(output):
    import duckdb

    out, _, rows = output
    stats = json.loads((out / "stats.json").read_text())
    per_scale = duckdb.sql(
        f"SELECT scale, count(*), sum(duration) FROM '{out}/shards/*.parquet' GROUP BY scale ORDER BY scale"
    ).fetchall()
    assert [(s, n) for s, n, _ in per_scale] == sorted(
        (s, v["clips"]) for s, v in stats["clips"]["scales"].items() if v["clips"]
    )
    for scale, _, seconds in per_scale:
        assert seconds / 3600 == pytest.approx(stats["clips"]["scales"][scale]["hours"])
    nested = duckdb.sql(f"SELECT key, s.text FROM '{out}/shards/*.parquet', unnest(sentences) AS t(s)")
    expected = [(k, s["text"]) for k, r in rows.items() for s in r["sentences"]]
    assert sorted(nested.fetchall()) == sorted(expected)
