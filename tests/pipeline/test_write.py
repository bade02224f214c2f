"""Shards, sidecars and the summary files, from staged clips (no ffmpeg here: the shard writer treats
clip files as bytes; the end-to-end tests use real clips)."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.beam.finalize import FILE, rebuild
from curate.output import failures as failures_io
from curate.output import index, write
from schemas import CLIP_SCHEMA, Clip, Failure, Sentence, clip_key, table_to_clips
from schemas.arrow import SENTENCE_TYPE


def make_clips(video_id: str, n: int, category: str = "Education") -> tuple:
    clips = []
    for i in range(n):
        sentence = Sentence(f"sentence {i} of {video_id}.", 10.0 * i, 10.0 * i + 8, 4)
        clips.append(
            Clip(
                clip_key(video_id, "short", i),
                video_id,
                "short",
                i,
                sentence.start,
                sentence.end,
                sentence.end - sentence.start,
                sentence.text,
                (sentence,),
                4,
                category=category,
                source_height=720,
                height=224,
                width=398,
                transcript_source="vtt_auto",
            )
        )
    return tuple(clips)


def stage(out_dir, video_id: str, n: int, size: int = 1000, failures=()) -> write.StagedVideo:
    """A staged video whose clip files hold deterministic bytes."""
    work = write.local_work_dir(str(out_dir), "test")
    clips = make_clips(video_id, n)
    paths = []
    for clip in clips:
        path = os.path.join(work, f"{clip.key}.mp4")
        with open(path, "wb") as f:
            f.write(hashlib.sha256(clip.key.encode()).digest() * (size // 32))
        paths.append(path)
    staged = write.StagedVideo(video_id, clips, tuple(os.path.getsize(p) for p in paths), tuple(failures))
    write.commit_staged_video(str(out_dir), staged, paths)
    os.rmdir(work)
    return staged


def test_pack_shards_by_count_and_bytes_never_splits_a_video():
    videos = [write.StagedVideo(f"v{i}", make_clips(f"v{i}", n), (100,) * n) for i, n in enumerate([3, 1, 2, 5, 1])]
    by_count = write.pack_shards(reversed(videos), write.ShardConfig(max_samples=4), first_index=7)
    assert [(name, [v.video_id for v in vs]) for name, vs in by_count] == [
        ("00007", ["v0", "v1"]),
        ("00008", ["v2"]),
        ("00009", ["v3"]),
        ("00010", ["v4"]),
    ]
    by_bytes = write.pack_shards(videos, write.ShardConfig(max_bytes=350))
    assert [[v.video_id for v in vs] for _, vs in by_bytes] == [["v0"], ["v1", "v2"], ["v3"], ["v4"]]
    # a video with no clip makes no shard
    assert write.pack_shards([write.StagedVideo("x", (), ())], write.ShardConfig()) == []


def read_tar(path) -> dict:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def test_write_shard_is_deterministic_and_matches_its_sidecar(tmp_path):
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        videos = [stage(out, "vid-2", 2), stage(out, "vid-1", 3)]
        assert write.write_shard(str(out), "00000", videos) == "00000"
        outputs.append(out)
        assert not (out / ".staging" / "vid-1").exists()  # staged clips are gone once committed
        assert [p for p in os.listdir(out / "shards") if p.startswith(".")] == []  # no temporaries left
    tars = [(o / "shards" / "00000.tar").read_bytes() for o in outputs]
    assert tars[0] == tars[1]

    members = read_tar(outputs[0] / "shards" / "00000.tar")
    sidecar = pq.read_table(outputs[0] / "shards" / "00000.parquet")
    assert sidecar.schema.names == CLIP_SCHEMA.names
    rows = sidecar.to_pylist()
    assert [r["key"] for r in rows] == sorted(r["key"] for r in rows)  # in order of video, then key
    assert len(members) == 3 * len(rows) == 15
    for row in rows:
        assert row["shard"] == "00000.tar"
        assert json.loads(members[f"{row['key']}.json"]) == json.loads(json.dumps(row))
        assert members[f"{row['key']}.txt"].decode() == row["subtitle"]
        assert members[f"{row['key']}.mp4"] == hashlib.sha256(row["key"].encode()).digest() * 31


def test_the_sidecar_is_the_commit(tmp_path):
    stage(tmp_path, "v1", 1)
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "00003.tar").write_bytes(b"half written")
    assert index.committed_shards(str(tmp_path)) == []
    write.write_shard(str(tmp_path), "00000", [write.load_staged_video(write.staging_dir(str(tmp_path), "v1"))])
    assert index.committed_shards(str(tmp_path)) == ["00000"]


def test_finalize_builds_the_index_failures_and_stats(tmp_path):
    out = str(tmp_path)
    clip_failure = Failure("v1", "cut", "clip_duration_mismatch", "1.0 s vs 8.0 s", clip_key("v1", "short", 9))
    write.write_shard(out, "00000", [stage(out, "v1", 2, failures=[clip_failure]), stage(out, "v2", 1)])
    write.write_shard(out, "00001", [stage(out, "v3", 2)])
    failures_io.record_failures(
        out,
        [
            Failure("v2", "download", "http_429", "Too Many Requests"),  # retried: ok later
            Failure("bad1", "filter", "below_720p", "height=360"),
            Failure("bad2", "download", "truncated_video", "only 3 of 9 packets"),
        ],
    )
    failures_io.record_failures(out, [Failure("bad1", "filter", "below_720p", "height=360")])  # a rerun says it again

    stats = rebuild(out, videos_in=5)
    table = pq.read_table(tmp_path / "clips.parquet")
    assert table.column("key").to_pylist() == sorted(table.column("key").to_pylist())
    assert table.num_rows == 5 and set(table.column("shard").to_pylist()) == {"00000.tar", "00001.tar"}
    failures = [Failure(**json.loads(line)) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert sorted((f.video_id, f.reason) for f in failures) == [
        ("bad1", "below_720p"),
        ("bad2", "truncated_video"),
        ("v1", "clip_duration_mismatch"),
    ]
    counts = stats["counts"]
    assert counts == {
        "videos_in": 5,
        "videos_kept": 3,
        "videos_failed": 2,
        "videos_failed_by_reason": {"download:truncated_video": 1, "filter:below_720p": 1},
        "clips_failed_by_reason": {"cut:clip_duration_mismatch": 1},
    }
    assert stats["num_clips"] == 5 and stats["num_shards"] == 2
    assert stats["categories"] == {"Education": pytest.approx(5 * 8 / 3600, rel=1e-3)}  # 5 clips of 8 s
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    report = (tmp_path / "report.md").read_text()
    assert "filter:below_720p" in report and "plots/categories.png" in report
    assert (tmp_path / "plots" / "clip_lengths.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / ".staging").exists()


def test_stats_alone_rebuild_from_the_contract_files(tmp_path):
    out = str(tmp_path)
    write.write_shard(out, "00000", [stage(out, "v1", 2)])
    first = rebuild(out, videos_in=4)
    os.remove(tmp_path / "stats.json")
    (tmp_path / "report.md").unlink()
    again = rebuild(out, source=FILE)
    assert again["num_clips"] == first["num_clips"] and again["counts"]["videos_in"] == 1
    assert (tmp_path / "report.md").exists()


def test_staging_names_are_safe(tmp_path):
    for video_id in ("../../x", "a/b", "$(rm -rf ~)", "..", "a b;c"):
        folder = write.staging_dir(str(tmp_path), video_id)
        assert os.path.dirname(folder) == os.path.join(str(tmp_path), ".staging")
        assert os.path.basename(folder) not in ("..", ".")


def failures_file(out) -> list:
    return [Failure(**json.loads(line)) for line in (out / "failures.jsonl").read_text().splitlines()]


def test_every_input_row_is_accounted_for_once(tmp_path):
    """issue 9, fault 4: a repeated id, several bad rows without an id, and videos dropped at other
    stages each give one failure line, and the counts add up to the rows read."""
    out = str(tmp_path)
    write.write_shard(out, "00000", [stage(out, "v1", 1), stage(out, "v2", 1)])
    rows = [
        Failure("v1", "read", "duplicate_id", "m.csv:line 4: repeats the video first read at m.csv:line 2"),
        Failure("", "read", "missing_id", "m.csv:line 5: no video id (and none in the url)"),
        Failure("", "read", "missing_id", "m.csv:line 6: no video id (and none in the url)"),
        Failure("v3", "filter", "below_720p", "height=360"),
    ]
    failures_io.record_failures(out, rows)
    failures_io.record_failures(out, rows[:3])  # a rerun reads the same rows again: still one line each
    failures_io.record_failures(out, [rows[3]._replace(detail="the same, said again")])  # a retried bundle
    stats = rebuild(out, videos_in=6)  # v1, v2, v1 again, two rows without id, v3
    assert sorted(failures_file(tmp_path)) == sorted(rows)
    counts = stats["counts"]
    assert (counts["videos_in"], counts["videos_kept"], counts["videos_failed"]) == (6, 2, 4)
    assert counts["videos_failed_by_reason"] == {"filter:below_720p": 1, "read:duplicate_id": 1, "read:missing_id": 2}
    assert "(6 read, 4 dropped)" in (tmp_path / "report.md").read_text()


def test_failures_of_an_earlier_attempt_give_way_to_the_last_one(tmp_path):
    """issue 9, fault 4: a clip that failed in an earlier attempt and was written by the rerun is no
    failure; a video without clips keeps only what its latest attempt said."""
    out = str(tmp_path)
    earlier = [
        Failure("v1", "cut", "clip_duration_mismatch", "1.0 s vs 8.0 s", clip_key("v1", "short", 0)),
        Failure("v1", "cut", "clip_duration_mismatch", "1.0 s vs 8.0 s", clip_key("v1", "short", 1)),
        Failure("v2", "cut", "cut_failed", "ffmpeg: killed", clip_key("v2", "short", 0)),
        Failure("v3", "download", "http_429", "Too Many Requests"),
    ]
    failures_io.record_failures(out, earlier, run_id=failures_io.new_run_id())
    still_failing = Failure("v1", "cut", "clip_duration_mismatch", "1.0 s vs 8.0 s", clip_key("v1", "short", 1))
    clips = make_clips("v1", 2)[:1]
    staged = stage(out, "v1", 2, failures=[still_failing])
    write.write_shard(out, "00000", [write.replace_clips(staged, clips)])
    failures_io.record_failures(
        out,
        [Failure("v2", "download", "timeout", "no answer"), Failure("v3", "download", "http_429", "Too Many Requests")],
        run_id=failures_io.new_run_id(),
    )
    stats = rebuild(out, videos_in=3)
    assert sorted(failures_file(tmp_path)) == sorted(
        [
            still_failing,
            Failure("v2", "download", "timeout", "no answer"),
            Failure("v3", "download", "http_429", "Too Many Requests"),
        ]
    )
    assert stats["counts"]["clips_failed_by_reason"] == {"cut:clip_duration_mismatch": 1}
    assert stats["counts"]["videos_failed_by_reason"] == {"download:http_429": 1, "download:timeout": 1}


def test_a_video_whose_every_clip_failed_counts_as_dropped(tmp_path):
    out = str(tmp_path)
    write.write_shard(out, "00000", [stage(out, "v1", 1)])
    failures_io.record_failures(
        out,
        [
            Failure("v2", "cut", "clip_duration_mismatch", "1.0 s vs 8.0 s", clip_key("v2", "short", 0)),
            Failure("v2", "cut", "clip_duration_mismatch", "2.0 s vs 8.0 s", clip_key("v2", "short", 1)),
        ],
    )
    counts = rebuild(out, videos_in=2)["counts"]
    assert (counts["videos_kept"], counts["videos_failed"]) == (1, 1)
    assert counts["videos_failed_by_reason"] == {"cut:no_clip_written": 1}
    assert counts["clips_failed_by_reason"] == {"cut:clip_duration_mismatch": 2}


def test_sidecars_of_an_older_schema_are_still_collected(tmp_path):
    """A shard written before transcript_repairs joined the schema (1.0) is read with that column null."""
    stage(tmp_path, "v1", 2)
    write.write_shard(str(tmp_path), "00000", [write.load_staged_video(write.staging_dir(str(tmp_path), "v1"))])
    sidecar = tmp_path / "shards" / "00000.parquet"
    old = pq.read_table(sidecar).drop_columns(["transcript_repairs"])
    sentences_1_1 = pa.list_(pa.struct([f for f in SENTENCE_TYPE if f.name != "speaker"]))  # schema 1.1
    old = old.set_column(
        old.schema.get_field_index("sentences"), "sentences", old.column("sentences").cast(sentences_1_1)
    )
    pq.write_table(old, sidecar)
    table = index.read_partition(str(sidecar))
    assert table.num_rows == 2 and table.column("transcript_repairs").null_count == 2
    assert index.open_index(str(tmp_path)).to_table().column("transcript_repairs").null_count == 2
    assert {s.speaker for c in table_to_clips(table) for s in c.sentences} == {""}
    assert rebuild(str(tmp_path), videos_in=1)["num_clips"] == 2


def test_sentence_speakers_are_stored_in_the_index_and_the_shard(tmp_path):
    out = str(tmp_path)
    staged = stage(out, "v1", 1)
    said = staged.clips[0]._replace(sentences=(Sentence("Yeah.", 0.0, 0.4, 1, speaker="Bob Ray"),))
    write.write_shard(out, "00000", [write.replace_clips(staged, [said])])
    (row,) = index.read_partition(index.partition_paths(out)[0]).to_pylist()
    assert row["sentences"][0]["speaker"] == "Bob Ray"
    members = read_tar(tmp_path / "shards" / "00000.tar")
    assert json.loads(members[f"{said.key}.json"])["sentences"][0]["speaker"] == "Bob Ray"
