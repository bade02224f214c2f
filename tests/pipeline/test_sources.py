"""Reading sources: manifests in every format, the HD-VILA-100M and Panda-70M releases, a yt-dlp
download folder; bad rows become Failures naming file and line; repeated ids are dropped."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from curate.beam.videos import ReadSources
from curate.sources import parse_timestamp, read_sources
from schemas import Failure, VideoMeta

WATCH = "https://www.youtube.com/watch?v="


def _split(records):
    records = list(records)
    return [r for r in records if isinstance(r, VideoMeta)], [r for r in records if isinstance(r, Failure)]


def _write_table(path: Path, rows: list) -> str:
    suffix = "".join(path.suffixes)
    if suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif suffix in (".jsonl", ".jsonl.gz"):
        text = "".join(json.dumps(r) + "\n" for r in rows)
        path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz") else text.encode())
    else:
        sep = "\t" if suffix.startswith(".tsv") else ","
        cols = list(rows[0])
        text = sep.join(cols) + "\n" + "".join(sep.join(str(r[c]) for c in cols) + "\n" for r in rows)
        path.write_bytes(gzip.compress(text.encode()) if suffix.endswith(".gz") else text.encode())
    return str(path)


@pytest.mark.parametrize("name", ["m.csv", "m.tsv", "m.jsonl", "m.parquet", "m.csv.gz", "m.jsonl.gz"])
def test_manifest_formats_with_detected_columns(tmp_path, name):
    rows = [
        {"youtube_id": "dQw4w9WgXcQ", "url": ""},
        {"youtube_id": "", "url": WATCH + "9bZkp7q19f0&t=3"},
        {"youtube_id": "local1", "url": "file:///data/local1.mp4"},
    ]
    videos, failures = _split(read_sources(_write_table(tmp_path / name, rows)))
    assert failures == []
    assert [(v.video_id, v.url) for v in videos] == [
        ("dQw4w9WgXcQ", WATCH + "dQw4w9WgXcQ"),
        ("9bZkp7q19f0", WATCH + "9bZkp7q19f0&t=3"),
        ("local1", "file:///data/local1.mp4"),
    ]


def test_named_columns_bare_ids_txt_lists_and_file_urls(tmp_path):
    path = _write_table(tmp_path / "m.csv", [{"clip": "x", "ytid_col": "abcdefghijk", "link_col": ""}])
    videos, _ = _split(read_sources(path, id_column="ytid_col", url_column="link_col"))
    assert videos == [VideoMeta("abcdefghijk", WATCH + "abcdefghijk")]
    with pytest.raises(ValueError, match="no url column 'nope'"):
        list(read_sources(path, url_column="nope"))
    with pytest.raises(ValueError, match="no id or url column"):
        list(read_sources(_write_table(tmp_path / "n.csv", [{"title": "t"}])))
    txt = tmp_path / "list.txt"
    txt.write_text("# ids and urls\nabcdefghijk\n\nhttps://youtu.be/9bZkp7q19f0\n")
    videos, _ = _split(read_sources(txt.as_uri()))  # a file:// URL works as the path
    assert [v.video_id for v in videos] == ["abcdefghijk", "9bZkp7q19f0"]
    with pytest.raises(ValueError, match="does not exist"):
        list(read_sources(str(tmp_path / "missing.csv")))
    with pytest.raises(ValueError, match="unknown manifest format"):
        list(read_sources(str(txt.with_suffix(".xlsx").touch() or txt.with_suffix(".xlsx"))))


def test_bad_rows_are_failures_naming_file_and_line_and_repeats_are_dropped(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"video_id": "a1", "url": WATCH + "a1"}),
                "{broken json",
                json.dumps({"video_id": "", "url": ""}),
                json.dumps({"video_id": "b\x00x", "url": ""}),
                json.dumps({"video_id": "c1", "url": "ftp://host/c1.mp4"}),
                json.dumps({"video_id": "a1", "url": WATCH + "a1"}),
                json.dumps(["not", "an", "object"]),
                json.dumps({"video_id": "$(rm -rf ~); ../../x", "url": ""}),
            ]
        )
        + "\n"
    )
    videos, failures = _split(read_sources(str(path)))
    assert [v.video_id for v in videos] == ["a1", "$(rm -rf ~); ../../x"]
    assert [(f.video_id, f.stage, f.reason) for f in failures] == [
        ("", "read", "bad_row"),
        ("", "read", "missing_id"),
        ("b\x00x", "read", "bad_id"),
        ("c1", "read", "bad_url"),
        ("a1", "read", "duplicate_id"),
        ("", "read", "bad_row"),
    ]
    assert failures[0].detail.startswith(f"{path}:line 2: ")
    assert "line 6" in failures[4].detail and "line 1" in failures[4].detail


def test_hdvila_release_jsonl_spans(tmp_path):
    row = {
        "video_id": "--2CBKjC1ts",
        "url": WATCH + "--2CBKjC1ts",
        "clip": [
            {"clip_id": "--2CBKjC1ts.1.mp4", "span": ["00:00:11.680", "00:00:21.400"]},
            {"clip_id": "--2CBKjC1ts.2.mp4", "span": ["00:01:02.5", "00:01:10.000"]},
        ],
    }
    bad = dict(row, video_id="zzzzzzzzzzz", clip=[{"clip_id": "z", "span": ["00:00:09.000", "00:00:02.000"]}])
    path = tmp_path / "hdvila.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps(bad) + "\n")
    videos, failures = _split(read_sources(str(path)))
    spans = ((11.68, 21.4), (62.5, 70.0))
    assert videos == [VideoMeta("--2CBKjC1ts", WATCH + "--2CBKjC1ts", given_spans=spans)]
    assert [(f.video_id, f.reason) for f in failures] == [("zzzzzzzzzzz", "bad_span")]
    assert "line 2" in failures[0].detail


def test_panda70m_csv_timestamps(tmp_path):
    path = tmp_path / "panda70m_testing.csv"
    path.write_text(
        "videoID,url,timestamp,caption,matching_score\n"
        "---QUuC4vJs,https://www.youtube.com/watch?v=---QUuC4vJs,"
        "\"[['0:00:00.000', '0:00:03.003'], ['0:00:03.003', '0:00:12.345']]\","
        "\"['a man talks.', 'a dog runs.']\",\"[0.44, 0.41]\"\n"
        "badstamp123,https://www.youtube.com/watch?v=badstamp123,"
        "\"[['0:00:x', '0:00:03']]\",\"['c']\",\"[0.4]\"\n"
    )
    videos, failures = _split(read_sources(str(path)))
    spans = ((0.0, 3.003), (3.003, 12.345))
    assert videos == [VideoMeta("---QUuC4vJs", WATCH + "---QUuC4vJs", given_spans=spans)]
    assert [(f.video_id, f.reason) for f in failures] == [("badstamp123", "bad_span")]


@pytest.mark.parametrize(
    "text, seconds", [("00:00:11.680", 11.68), ("1:02.5", 62.5), ("7", 7.0), ("0:00:03,250", 3.25), (4.5, 4.5)]
)
def test_parse_timestamp(text, seconds):
    assert parse_timestamp(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "1:2:3:4", "abc", "-1", None])
def test_parse_timestamp_rejects(bad):
    with pytest.raises(ValueError):
        parse_timestamp(bad)


def test_manifest_with_paths_relative_to_it(sample_video, tmp_path):
    shutil.copy(sample_video.info_path, tmp_path / "v.info.json")
    path = _write_table(tmp_path / "m.csv", [{"id": "v", "info_path": "v.info.json"}])
    videos, _ = _split(read_sources(path))
    assert videos == [VideoMeta("v", "", info_path=str(tmp_path / "v.info.json"))]


def test_manifest_path_columns_keep_remote_urls_and_resolve_file_urls(tmp_path):
    rows = [
        {"id": "a", "info_path": "gs://bucket/probe/a.info.json"},
        {"id": "b", "info_path": f"file://{tmp_path}/sub/../b.info.json"},
    ]
    videos, _ = _split(read_sources(_write_table(tmp_path / "m.csv", rows)))
    assert [v.info_path for v in videos] == ["gs://bucket/probe/a.info.json", str(tmp_path / "b.info.json")]


def test_ytdlp_download_folder(sample_video, tmp_path):
    folder = tmp_path / "dl"
    shutil.copytree(sample_video.folder, folder)
    vid = sample_video.video_id
    shutil.copy(folder / f"{vid}.subs" / "auto.json3", folder / f"{vid}.en.json3")  # preferred over vtt
    (folder / f"{vid}.de.vtt").write_text("WEBVTT\n")
    (folder / "orphan.en.vtt").write_text("WEBVTT\n")
    (folder / "infoonly.info.json").write_text(json.dumps({"id": "infoonly"}))
    videos, failures = _split(read_sources(str(folder)))
    assert [v.video_id for v in videos] == ["infoonly", vid]
    v = videos[1]
    assert v.media_path == str(folder / f"{vid}.mp4") and v.info_path == str(folder / f"{vid}.info.json")
    assert v.subtitle_path == str(folder / f"{vid}.en.json3") and v.url == (folder / f"{vid}.mp4").as_uri()
    assert videos[0].media_path == "" and videos[0].info_path.endswith("infoonly.info.json")
    assert [(f.video_id, f.reason) for f in failures] == [("orphan", "no_media_or_info")]


def test_read_sources_transform(tmp_path):
    path = _write_table(tmp_path / "m.csv", [{"video_id": f"v{i}", "url": ""} for i in (3, 1, 2, 1)])
    with BeamTestPipeline() as p:
        videos, failures = p | ReadSources(path)
        expected = [VideoMeta(f"v{i}", WATCH + f"v{i}") for i in (1, 2, 3)]
        assert_that(videos, equal_to(expected), label="videos")
        detail = f"{path}:line 5: repeats the video first read at {path}:line 3"
        assert_that(failures, equal_to([Failure("v1", "read", "duplicate_id", detail)]), label="failures")


def test_read_sources_transform_rejects_a_bad_source_while_the_pipeline_is_built(tmp_path):
    path = _write_table(tmp_path / "m.csv", [{"video_id": "v1", "url": ""}])
    with pytest.raises(ValueError, match="no id column 'vid'"):
        _ = BeamTestPipeline() | ReadSources(path, id_column="vid")
    with pytest.raises(ValueError, match="does not exist"):
        _ = BeamTestPipeline() | ReadSources(str(tmp_path / "nope.csv"))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".txt"])
def test_a_non_utf8_byte_fails_its_row_only(tmp_path, suffix):
    rows = [b"aaaaaaaaaa1", b"bb\xe9bbbbbbb2", b"ccccccccc\xff3", b"ddddddddd4"]
    if suffix == ".jsonl":
        lines = [b'{"video_id": "' + r + b'"}' for r in rows]
        body = b"\n".join(lines) + b"\n"
    elif suffix == ".txt":
        body = b"\n".join(rows) + b"\n"
    else:
        body = b"video_id\n" + b"\n".join(rows) + b"\n"
    path = tmp_path / f"m{suffix}"
    path.write_bytes(body)
    videos, failures = _split(read_sources(str(path)))
    assert [v.video_id for v in videos] == ["aaaaaaaaaa1", "ddddddddd4"]
    first = 1 if suffix in (".jsonl", ".txt") else 2
    assert [f.detail.split(": ", 1)[0] for f in failures] == [f"{path}:line {first + 1}", f"{path}:line {first + 2}"]
    assert "not UTF-8: byte 0xe9" in failures[0].detail and "byte 0xff" in failures[1].detail


def test_a_huge_csv_field_fails_its_row_only(tmp_path):
    path = tmp_path / "m.csv"
    huge = "x" * 10_000_000
    path.write_text(f'video_id,url\nv1,\nv2,"{huge}"\nv3,\n')
    videos, failures = _split(read_sources(str(path)))
    assert [v.video_id for v in videos] == ["v1", "v3"]
    assert len(failures) == 1 and failures[0].detail.startswith(f"{path}:line 3: unreadable csv row")
    assert len(failures[0].detail) < 500  # the field itself is not copied into the failure


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty: no header line"),
        ("video_id,url\n", "no videos in it"),
        ("title,views\nt,1\n", "found no id or url column"),
    ],
)
def test_an_unusable_manifest_is_one_clear_line(tmp_path, content, message):
    from curate.__main__ import main

    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(SystemExit, match=message):
        main(["run", "--recipe", "vidla", "--input", str(path), "--output", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_a_file_name_that_is_not_utf8_is_one_failure_naming_it(sample_video, tmp_path):
    """Attack: a yt-dlp folder holding caf\\xe9_video.mp4 (+ .info.json, .en.vtt) beside a good video,
    and a subtitle of the good video whose language is not UTF-8: each bad name is one failure that
    names its bytes, the good video is read, and the input's fingerprint takes the names."""
    from curate.output.settings import input_fingerprint

    folder = tmp_path / "dl"
    shutil.copytree(sample_video.folder, folder)
    bad = os.fsdecode(b"caf\xe9_video")
    for ext in (".mp4", ".info.json", ".en.vtt"):
        shutil.copy(
            sample_video.media_path
            if ext == ".mp4"
            else sample_video.info_path
            if ext == ".info.json"
            else sample_video.subtitle_path,
            folder / f"{bad}{ext}",
        )
    odd_language = os.fsdecode(f"{sample_video.video_id}.e\xff.vtt".encode("latin-1"))
    shutil.copy(sample_video.subtitle_path, folder / odd_language)
    videos, failures = _split(read_sources(str(folder)))
    assert [v.video_id for v in videos] == [sample_video.video_id]
    assert videos[0].subtitle_path == str(folder / f"{sample_video.video_id}.en.vtt")
    assert [(f.video_id, f.stage, f.reason) for f in failures] == [("", "read", "undecodable_name")] * 2
    assert "caf\\xe9_video.mp4" in failures[0].detail and "byte 0xe9" in failures[0].detail
    assert "caf\\xe9_video.info.json" in failures[0].detail and "caf\\xe9_video.en.vtt" in failures[0].detail
    assert f"{sample_video.video_id}.e\\xff.vtt" in failures[1].detail
    json.dumps([f._asdict() for f in failures]).encode("utf-8")  # the records take no lone surrogate
    before = input_fingerprint(str(folder))
    os.rename(folder / f"{bad}.mp4", folder / os.fsdecode(b"caf\xe8_video.mp4"))
    assert input_fingerprint(str(folder)) != before


def test_each_jsonl_row_brings_its_own_fields(tmp_path):
    """Attack: a jsonl whose first row has no media_path, subtitle_path or url made every later row's
    fields count for nothing (a local video was looked up online by its id). Each row is read with
    its own fields and checked on its own."""
    local = {"video_id": "local", "media_path": "v.mp4", "subtitle_path": "v.en.vtt", "info_path": "v.info.json"}
    rows = [
        {"video_id": "dQw4w9WgXcQ"},
        local,
        {"id": "other", "url": "https://host.example/other.mp4"},
        {"video_id": "badpath", "media_path": ["a.mp4", "b.mp4"]},
        {"title": "no id here"},
        {"video_id": {"nested": 1}},
        {"video_id": 12345, "link": WATCH + "9bZkp7q19f0"},
    ]
    path = _write_table(tmp_path / "m.jsonl", rows)
    videos, failures = _split(read_sources(path))
    assert videos == [
        VideoMeta("dQw4w9WgXcQ", WATCH + "dQw4w9WgXcQ"),
        VideoMeta(
            "local",
            "",
            media_path=str(tmp_path / "v.mp4"),
            subtitle_path=str(tmp_path / "v.en.vtt"),
            info_path=str(tmp_path / "v.info.json"),
        ),
        VideoMeta("other", "https://host.example/other.mp4"),
        VideoMeta("12345", WATCH + "9bZkp7q19f0"),
    ]
    assert [(f.video_id, f.reason) for f in failures] == [
        ("badpath", "bad_field"),
        ("", "missing_id"),
        ("", "bad_field"),
    ]
    assert "line 4" in failures[0].detail and "'media_path' is a list" in failures[0].detail
    assert "line 5" in failures[1].detail and "['title']" in failures[1].detail
    named, missing = _split(read_sources(path, id_column="id"))
    assert [v.video_id for v in named] == ["other"]
    assert {f.reason for f in missing} == {"missing_column"} and len(missing) == 6
