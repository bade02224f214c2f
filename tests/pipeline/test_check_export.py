"""`curate check` (an fsck of a finished output) on a real run's output damaged on purpose, and
`curate export` (the metadata-only releases) read back by the run's own reader."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile

import pytest

from curate.__main__ import main
from curate.output import index
from curate.sources import read_sources
from schemas import VideoMeta


@pytest.fixture(scope="module")
def finished(curated_run):
    """A real vidla run of sample videos over two or more shards (the session's): (input folder, output)."""
    assert len(index.partition_paths(str(curated_run.out))) >= 2
    return curated_run.folder, curated_run.out


@pytest.fixture
def output(finished, tmp_path):
    """A copy of the finished output to damage."""
    copy = tmp_path / "out"
    shutil.copytree(finished[1], copy)
    return copy


def rewrite_tar(path, change) -> None:
    """Rewrite a shard with change(name, data) -> [(name, data), ...] applied to each member."""
    with tarfile.open(path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            for new_name, new_data in change(name, data):
                info = tarfile.TarInfo(new_name)
                info.size = len(new_data)
                tar.addfile(info, io.BytesIO(new_data))


def first_key(out) -> str:
    return index.read_partition(index.partition_paths(str(out))[0]).column("key")[0].as_py()


def run_check(out, capsys, *extra):
    rc = main(["check", str(out), *extra])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_a_finished_output_checks_clean(finished, capsys):
    rc, out, err = run_check(finished[1], capsys)
    stats = json.loads((finished[1] / "stats.json").read_text())
    assert rc == 0, err
    assert f"{stats['num_shards']} shards, {stats['num_clips']} clips checked; no problems" in out


def _drop_member(ext):
    def damage(out, key):
        rewrite_tar(out / "shards" / "00000.tar", lambda n, d: [] if n == f"{key}.{ext}" else [(n, d)])

    return damage


def _replace_member(ext, new):
    def damage(out, key):
        rewrite_tar(out / "shards" / "00000.tar", lambda n, d: [(n, new(d) if n == f"{key}.{ext}" else d)])

    return damage


def _add_member(out, key):
    rewrite_tar(
        out / "shards" / "00000.tar",
        lambda n, d: [(n, d)] + ([("stranger_short_00000.txt", b"hi")] if n == f"{key}.txt" else []),
    )


def _json_start(data):
    fields = json.loads(data)
    fields["start"] += 1.0
    return json.dumps(fields).encode()


def _stats_count(out, key):
    stats = json.loads((out / "stats.json").read_text())
    stats["num_clips"] += 1
    (out / "stats.json").write_text(json.dumps(stats))


def _leftover_tmp(out, key):
    (out / "shards" / ".00002.tar.tmp-0123abcd").write_bytes(b"partial")


def _uncommitted_tar(out, key):
    shutil.copy(out / "shards" / "00000.tar", out / "shards" / "00099.tar")


def _staging(out, key):
    (out / ".staging").mkdir()
    (out / ".staging" / "x.mp4").write_bytes(b"partial")


def _truncated_sidecar(out, key):
    path = out / "shards" / "00000.parquet"
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def _failure_line(out, key):
    with open(out / "failures.jsonl", "w") as f:  # a good record, then a torn one
        f.write('{"video_id": "x", "stage": "cut", "reason": "ffmpeg"}\n{"video_id": "y", "sta\n')


DAMAGES = {
    "mp4 missing": (_drop_member("mp4"), "no .mp4 member", True),
    "txt missing": (_drop_member("txt"), "no .txt member", True),
    "mp4 cut short": (_replace_member("mp4", lambda d: d[: len(d) // 2]), ".mp4 is cut short", True),
    "mp4 headless": (_replace_member("mp4", lambda d: d[:200]), ".mp4 has no video stream", True),
    "mp4 not video": (_replace_member("mp4", lambda d: b"\0" * 64), ".mp4 does not open", True),
    "json broken": (_replace_member("json", lambda d: d[:-5]), ".json does not parse", True),
    "json disagrees": (_replace_member("json", _json_start), ".json differs from the index in start", True),
    "txt disagrees": (_replace_member("txt", lambda d: d + b" extra"), ".txt differs from the indexed subtitle", True),
    "member not indexed": (_add_member, "member stranger_short_00000.txt is not in the index", False),
    "stats count": (_stats_count, "stats.json: num_clips is", False),
    "failure record": (_failure_line, "failures.jsonl:line 2: is not a failure record", False),
    "temporary file": (_leftover_tmp, "shards/.00002.tar.tmp-0123abcd: temporary", False),
    "uncommitted shard": (_uncommitted_tar, "shards/00099.tar: shard without its index sidecar", False),
    "staging left": (_staging, ".staging: staged clips not yet in a shard", False),
    "sidecar damaged": (_truncated_sidecar, "shards/00000.parquet: index partition does not read", False),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_each_damage_is_found_and_named(output, capsys, damage):
    make, message, names_clip = DAMAGES[damage]
    key = first_key(output)
    make(output, key)
    rc, out, err = run_check(output, capsys)
    assert rc == 1
    assert message in err, err
    if names_clip:
        assert f"shards/00000.tar: clip {key}: " in err
    assert "problem(s)" in out and "no problems" not in out


def test_a_partial_file_is_reported_not_just_skipped(output, capsys):
    """The summary counts every problem, and prints at most --max-problems of them."""
    rewrite_tar(output / "shards" / "00000.tar", lambda n, d: [])  # every member of the shard gone
    rc, out, err = run_check(output, capsys, "--max-problems", "1")
    clips = index.read_partition(index.partition_paths(str(output))[0]).num_rows
    assert rc == 1 and len(err.splitlines()) == 1 and f"{clips} missing problem(s)" in out


def test_parallel_check_finds_the_same_problems_in_shard_order(output, capsys):
    keys = [index.read_partition(p).column("key")[0].as_py() for p in index.partition_paths(str(output))]
    for shard, key in zip(index.committed_shards(str(output)), keys):
        rewrite_tar(output / "shards" / f"{shard}.tar", lambda n, d, key=key: [] if n == f"{key}.json" else [(n, d)])
    serial, parallel = run_check(output, capsys), run_check(output, capsys, "--jobs", "2")
    assert serial == parallel and serial[0] == 1
    assert [line.split(": ")[1] for line in serial[2].splitlines()] == [f"clip {k}" for k in keys]


def test_check_refuses_what_is_not_an_output(tmp_path):
    with pytest.raises(SystemExit, match="has no shards/"):
        main(["check", str(tmp_path)])


def by_scale_index(row):
    return row["scale"], row["index"]


def test_hdvila_export_is_read_back_as_the_given_spans(finished, tmp_path, capsys):
    _, out = finished
    release = tmp_path / "release.jsonl.gz"
    assert main(["export", str(out), "--format", "hdvila-jsonl", "--output", str(release)]) == 0
    assert "3 videos" in capsys.readouterr().out
    lines = [json.loads(line) for line in gzip.open(release, "rt")]
    assert [sorted(r) for r in lines] == [["clip", "url", "video_id"]] * 3  # 3 sample videos, 1 broken file
    rows = index.open_index(str(out)).to_table().to_pylist()
    for line in lines:
        mine = sorted((r for r in rows if r["video_id"] == line["video_id"]), key=by_scale_index)
        assert [c["clip_id"] for c in line["clip"]] == [f"{r['key']}.mp4" for r in mine]
        assert all(len(c["span"][0]) == len("00:00:00.000") for c in line["clip"])
    read = [v for v in read_sources(str(release)) if isinstance(v, VideoMeta)]
    assert sorted(v.video_id for v in read) == sorted(line["video_id"] for line in lines)
    for v in read:
        mine = sorted((r for r in rows if r["video_id"] == v.video_id), key=by_scale_index)
        assert v.given_spans == tuple((round(r["start"], 3), round(r["end"], 3)) for r in mine)


@pytest.mark.slow
def test_a_run_over_the_hdvila_export_cuts_its_spans(finished, tmp_path):
    """The round trip: the release, with the media already on disk, run as an hdvila input."""
    folder, out = finished
    release = tmp_path / "release.jsonl"
    assert main(["export", str(out), "--format", "hdvila-jsonl", "--output", str(release), "--scales", "short"]) == 0
    lines = [json.loads(line) for line in release.read_text().splitlines()]
    for line in lines:  # as a downloader would leave them
        vid = line["video_id"]
        line.update(
            media_path=str(folder / f"{vid}.mp4"),
            info_path=str(folder / f"{vid}.info.json"),
            subtitle_path=str(folder / f"{vid}.en.vtt"),
        )
    release.write_text("".join(json.dumps(line) + "\n" for line in lines))
    again = tmp_path / "again"
    assert (
        main(["run", "--recipe", "hdvila", "--input", str(release), "--output", str(again), "--short-side", "128"]) == 0
    )
    spans = {(c["clip_id"].split("_")[0], tuple(c["span"])) for line in lines for c in line["clip"]}
    from curate.export import timestamp

    cut = {
        (r["video_id"], (timestamp(r["start"]), timestamp(r["end"])))
        for r in index.open_index(str(again)).to_table().to_pylist()
    }
    assert cut == spans and len(cut) == sum(len(line["clip"]) for line in lines)
    assert main(["check", str(again)]) == 0


def test_vidla_export_has_one_record_per_clip_with_its_texts(finished, tmp_path):
    _, out = finished
    release = tmp_path / "vidla.jsonl"
    assert main(["export", str(out), "--format", "vidla-jsonl", "--output", str(release)]) == 0
    records = {r["clip_id"]: r for r in map(json.loads, release.read_text().splitlines())}
    rows = index.open_index(str(out)).to_table().to_pylist()
    assert set(records) == {r["key"] for r in rows}
    for row in rows:
        record = records[row["key"]]
        assert list(record) == [
            "video_id",
            "url",
            "clip_id",
            "scale",
            "start",
            "end",
            "subtitle",
            "sentences",
            "frame_captions",
            "caption_summary",
            "subtitle_summary",
        ]
        assert (record["video_id"], record["url"], record["scale"], record["start"], record["end"]) == (
            row["video_id"],
            row["url"],
            row["scale"],
            row["start"],
            row["end"],
        )
        assert record["subtitle"] == row["subtitle"] and record["subtitle"]
        assert record["sentences"] == [
            {"text": s["text"], "start": s["start"], "end": s["end"]} for s in row["sentences"]
        ]
        assert record["frame_captions"] == [
            {"time": t, "text": c} for t, c in zip(row["frame_times"], row["frame_captions"])
        ]
    assert main(["export", str(out), "--format", "vidla-jsonl", "--output", str(release), "--scales", "medium"]) == 0
    assert {json.loads(line)["scale"] for line in release.read_text().splitlines()} == {"medium"}


def test_export_errors_name_what_is_wrong(finished, tmp_path):
    with pytest.raises(SystemExit, match="unknown scale.*shortt"):
        main(
            [
                "export",
                str(finished[1]),
                "--format",
                "vidla-jsonl",
                "--output",
                str(tmp_path / "x"),
                "--scales",
                "shortt",
            ]
        )
    with pytest.raises(SystemExit):
        main(["export", str(finished[1]), "--format", "webvid", "--output", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="has no shards/"):
        main(["export", str(tmp_path), "--format", "vidla-jsonl", "--output", str(tmp_path / "x")])
