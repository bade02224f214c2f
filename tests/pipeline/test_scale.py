"""Curation at scale (issue 19): no step holds the whole dataset in one process.

- the index is the shards' sidecars (pyarrow.dataset), clips.parquet is optional;
- shards are packed per hash bucket, never after a global gather;
- statistics are sums merged over partitions and equal those of the whole;
- resume is a join inside the pipeline: the pickled graph does not grow with the done videos, and no
  transform materialises a collection as one element or side input;
- a damaged partition is set aside and its videos redone, the rest kept;
- a rerun's memory, in every process of the multi-process runner, does not grow with the clips.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys

import pyarrow.parquet as pq
import pytest
from factories import committed_output, run_measured

from curate.__main__ import main
from curate.output import index, write
from curate.text.stats import clip_statistics, clip_totals, merge_totals, statistics
from schemas import Clip, Sentence, clip_key, clips_to_table

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "realsubs")


def varied_clips(videos: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    words = "a man rides\u00a0a red bike  over\tthe hill and\u3000talks to us".split(" ")
    clips = []
    for v in range(videos):
        vid = f"vid{v:03d}"
        repairs = (("overlap_trimmed", rng.randint(1, 5)),) if v % 3 == 0 else ()
        for scale in rng.sample(["short", "medium", "long", "video"], rng.randint(1, 3)):
            for i in range(rng.randint(1, 4)):
                start = 10.0 * i + rng.random()
                sentences = tuple(
                    Sentence(
                        " ".join(rng.choices(words, k=rng.randint(1, 9))),
                        start,
                        start + 2,
                        rng.randint(1, 9) if rng.random() < 0.8 else None,
                    )
                    for _ in range(rng.randint(0, 4))
                )
                clips.append(
                    Clip(
                        clip_key(vid, scale, i),
                        vid,
                        scale,
                        i,
                        start,
                        start + rng.uniform(3, 70),
                        0.0,
                        " ".join(s.text for s in sentences),
                        sentences,
                        0,
                        caption=rng.choice([None, "", " ".join(rng.choices(words, k=5))]),
                        subtitle_summary=rng.choice([None, " ".join(rng.choices(words, k=7))]),
                        frame_captions=tuple(" ".join(rng.choices(words, k=4)) for _ in range(rng.randint(0, 3))),
                        category=rng.choice(["", "Education", "Sports"]),
                        transcript_repairs=repairs,
                    )
                )
    return [c._replace(duration=c.end - c.start) for c in clips]


def test_statistics_merged_over_partitions_equal_those_of_the_whole():
    clips = varied_clips(40)
    whole = clip_statistics(clips)
    parts = [clips_to_table([c for c in clips if int(c.video_id[3:]) % 7 == k]) for k in range(7)]
    totals = clip_totals(parts[0])
    for part in parts[1:]:
        totals = merge_totals(totals, clip_totals(part))
    merged = statistics(totals)
    assert merged["transcript_repairs"] == whole["transcript_repairs"]
    assert list(merged["scales"]) == list(whole["scales"])
    for scale in [*whole["scales"], "all"]:
        a = merged["all"] if scale == "all" else merged["scales"][scale]
        b = whole["all"] if scale == "all" else whole["scales"][scale]
        assert a == pytest.approx(b), scale
    # the index's own totals (categories, histograms) merge the same way
    part_totals = [index.partition_totals(index.conform(p)) for p in parts]
    merged_index = part_totals[0]
    for t in part_totals[1:]:
        merged_index = index.merge_totals(merged_index, t)
    whole_index = index.partition_totals(index.conform(clips_to_table(clips)))
    assert merged_index["category_hours"] == pytest.approx(whole_index["category_hours"])
    assert merged_index["length_histogram"] == whole_index["length_histogram"]
    assert merged_index["num_clips"] == len(clips) and merged_index["num_shards"] == 7


def test_words_are_counted_as_str_split_counts_them():
    texts = ["", "  a  b ", "x\u00a0y\u2003z", "tab\there\nnew\x0bline\x1cfs", "\u3000\u3000", "nbsp\u202fnarrow"]
    if os.path.isdir(SHARED):  # real subtitle text in many scripts
        for root, _, names in os.walk(SHARED):
            for name in sorted(names)[:40]:
                with open(os.path.join(root, name), "rb") as f:
                    texts += f.read().decode("utf-8", errors="replace").splitlines()[:200]
    clip = Clip("k", "v", "short", 0, 0.0, 1.0, 1.0, "", (), 0, frame_captions=tuple(texts))
    stats = clip_statistics([clip])
    assert stats["all"]["words_per_clip_captions"] == sum(len(t.split()) for t in texts)


def staged_entries(out_dir, count: int) -> list:
    """`count` staged videos of one tiny clip each (a clip file and a manifest in DIR/.staging)."""
    entries = []
    for i in range(count):
        vid = f"video-{i:04d}"
        clip = Clip(clip_key(vid, "short", 0), vid, "short", 0, 0.0, 8.0, 8.0, "hi", (), 1)
        work = write.local_work_dir(str(out_dir), "t")
        path = os.path.join(work, f"{clip.key}.mp4")
        with open(path, "wb") as f:
            f.write(vid.encode())
        staged = write.StagedVideo(vid, (clip,), (len(vid),))
        write.commit_staged_video(str(out_dir), staged, [path])
        os.rmdir(work)
        entries.append(write.shard_entry(staged))
    return entries


def run_write_shards(out_dir, entries, config, first):
    import apache_beam as beam

    from curate.beam.shards import WriteShards

    with beam.Pipeline() as p:
        _ = p | beam.Create(entries) | WriteShards(str(out_dir), config, first)


def test_shards_are_packed_per_bucket_within_bounds_and_named_densely(tmp_path):
    from curate.beam.shards import SHARDS_PER_BUCKET, num_buckets

    config = write.ShardConfig(max_samples=2)
    entries = staged_entries(tmp_path / "a", 300)
    assert num_buckets((300, 10**6), config) == -(-300 // (2 * SHARDS_PER_BUCKET)) > 1
    run_write_shards(tmp_path / "a", entries, config, first=5)
    names = index.committed_shards(str(tmp_path / "a"))
    assert names == [f"{i:05d}" for i in range(5, 5 + len(names))]  # dense, from first_index
    tables = [pq.read_table(p) for p in index.partition_paths(str(tmp_path / "a"))]
    assert all(1 <= t.num_rows <= 2 for t in tables)
    videos = [v for t in tables for v in t.column("video_id").to_pylist()]
    assert sorted(videos) == sorted(e.video_id for e in entries)  # each once
    # only each bucket's last shard is partly full
    assert len(names) <= 150 + num_buckets((300, 10**6), config)
    assert not os.path.exists(tmp_path / "a" / ".staging") or not os.listdir(tmp_path / "a" / ".staging")
    # deterministic: the same staged videos give the same shards, byte for byte
    run_write_shards(tmp_path / "b", staged_entries(tmp_path / "b", 300), config, first=5)
    for name in names:
        for suffix in (".tar", ".parquet"):
            a = (tmp_path / "a" / "shards" / f"{name}{suffix}").read_bytes()
            assert a == (tmp_path / "b" / "shards" / f"{name}{suffix}").read_bytes()


def recipe_pipeline(out_dir, manifest):
    import apache_beam as beam

    from curate.config import RunConfig
    from curate.output.resume import load_resume_state
    from dags import hdvila

    cfg = RunConfig("hdvila", str(manifest), str(out_dir))
    p = beam.Pipeline()
    hdvila.build(p, cfg, load_resume_state(str(out_dir)))
    return p


def test_the_pipeline_graph_does_not_grow_with_the_done_videos(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("video_id,url\nabc,https://www.youtube.com/watch?v=abc\n")
    sizes = {}
    for done in (1_000, 100_000):
        out = tmp_path / f"out{done}"
        committed_output(str(out), done, clips_per_video=1)
        sizes[done] = len(recipe_pipeline(out, manifest).to_runner_api().SerializeToString())
    assert abs(sizes[100_000] - sizes[1_000]) < 4096, sizes


def test_no_transform_gathers_a_collection_in_one_element_or_side_input(tmp_path):
    from apache_beam.pipeline import PipelineVisitor
    from apache_beam.pvalue import AsSingleton
    from apache_beam.transforms import combiners

    manifest = tmp_path / "m.csv"
    manifest.write_text("video_id,url\nabc,https://www.youtube.com/watch?v=abc\n")
    found = []

    class Walk(PipelineVisitor):
        def visit_transform(self, node):
            transform = node.transform
            if isinstance(transform, (combiners.ToList, combiners.ToDict, combiners.ToSet)):
                found.append(f"{node.full_label}: {type(transform).__name__}")
            for side in getattr(transform, "side_inputs", ()) or ():
                # Beam's CombineGlobally reads its own one combined value as a list to add a default
                if not isinstance(side, AsSingleton) and not node.full_label.endswith("/InjectDefault"):
                    found.append(f"{node.full_label}: side input {type(side).__name__}")

        def enter_composite_transform(self, node):
            self.visit_transform(node)

    recipe_pipeline(tmp_path / "out", manifest).visit(Walk())
    assert found == []


def curate_run(folder, out, *extra) -> int:
    return main(
        ["run", "--recipe", "vidla", "--input", str(folder), "--output", str(out), "--shard-max-samples", "2", *extra]
    )


@pytest.fixture(scope="module")
def sample_videos(curated_run):
    """The input folder of the session's real run: sample videos with speech and subtitles (and a file
    that is not a video)."""
    return curated_run.folder


def test_the_index_is_the_partitions_and_clips_parquet_is_optional(sample_videos, tmp_path, capsys, caplog):
    import logging

    from apache_beam.options.pipeline_options import StandardOptions

    from curate.beam.recipe import pipeline_options
    from curate.beam.runner import LOCAL_RUNNER

    assert pipeline_options([]).view_as(StandardOptions).runner == LOCAL_RUNNER
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    assert curate_run(sample_videos, out, "--no-clips-parquet") == 0
    assert "prism" not in caplog.text.lower()  # the local default fetches no runner from the internet
    printed = capsys.readouterr().out  # the run ends saying where the results are and what is next
    assert f"results: {out}/report.md" in printed and f"python -m curate gallery {out}" in printed
    report = (out / "report.md").read_text()  # which models made the texts, or how to turn them on
    assert "## Made with" in report and "--punctuator NAME_OR_DIR" in report and "--caption-model" in report
    made_with = json.loads((out / "stats.json").read_text())["made_with"]
    assert made_with == {"punctuator": None, "asr_model": "tiny.en", "caption_model": None, "summary_model": None}
    assert not (out / "clips.parquet").exists()
    rows = index.open_index(str(out)).to_table()
    stats = json.loads((out / "stats.json").read_text())
    assert rows.num_rows == stats["num_clips"] > 0 and len(set(rows.column("shard").to_pylist())) > 1
    assert main(["stats", str(out)]) == 0  # from the partitions alone
    assert not (out / "clips.parquet").exists()
    assert json.loads((out / "stats.json").read_text()) == stats
    # the trainer's shard listing reads the same committed shards
    from train.data.shards import expand_shards

    assert len(expand_shards(str(out))) == stats["num_shards"]
    # a rerun that asks for clips.parquet writes it from the partitions, in shard and key order
    assert curate_run(sample_videos, out) == 0
    table = pq.read_table(out / "clips.parquet")
    assert table.to_pylist() == index.open_index(str(out)).to_table().to_pylist()
    assert table.column("shard").to_pylist() == sorted(table.column("shard").to_pylist())


def test_a_damaged_partition_is_set_aside_and_its_videos_redone(sample_videos, tmp_path):
    out = tmp_path / "out"
    assert curate_run(sample_videos, out) == 0
    before = pq.read_table(out / "clips.parquet")
    damaged = index.partition_paths(str(out))[0]
    lost = set(pq.read_table(damaged).column("key").to_pylist())
    with open(damaged, "r+b") as f:
        f.truncate(os.path.getsize(damaged) // 2)
    assert curate_run(sample_videos, out) == 0  # the run does not die
    after = pq.read_table(out / "clips.parquet")
    assert sorted(after.column("key").to_pylist()) == sorted(before.column("key").to_pylist())  # redone
    kept = {r["key"]: r["shard"] for r in before.to_pylist() if r["key"] not in lost}
    assert {r["key"]: r["shard"] for r in after.to_pylist() if r["key"] in kept} == kept  # the rest as it was
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    damage = [f for f in failures if f["stage"] == "index"]
    assert len(damage) == 1 and os.path.basename(damaged) in damage[0]["detail"]
    assert os.path.exists(out / ".state" / "damaged" / os.path.basename(damaged))
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counts"]["damaged_shards"] == 1 and "set aside" in (out / "report.md").read_text()
    assert stats["counts"]["videos_in"] == stats["counts"]["videos_kept"] + stats["counts"]["videos_failed"]


@pytest.mark.slow
def test_rerun_memory_is_flat_in_every_process_of_the_multi_process_runner(tmp_path):
    """The rerun of a large output with 2 worker processes: the peak RSS of every process at 10x the
    clips stays within 1.3x (+ sampling slack) of the small one's."""
    peaks = {}
    for clips in (20_000, 200_000):
        out = tmp_path / f"out{clips}"
        ids = committed_output(str(out), clips)
        manifest = tmp_path / f"m{clips}.csv"
        rows = "".join(f"{v},https://www.youtube.com/watch?v={v}\n" for v in ids[:50])
        manifest.write_text("video_id,url\n" + rows)
        _, per_process = run_measured(
            [
                sys.executable,
                "-m",
                "curate",
                "run",
                "--recipe",
                "hdvila",
                "--input",
                str(manifest),
                "--output",
                str(out),
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=2",
            ]
        )
        assert json.loads((out / "stats.json").read_text())["num_clips"] == clips
        peaks[clips] = sorted((mb for mb, _ in per_process.values()), reverse=True)
        shutil.rmtree(out)
    assert len(peaks[200_000]) >= 3, peaks  # the launcher and its worker processes were all seen
    for small, large in zip(peaks[20_000], peaks[200_000]):
        assert large <= 1.3 * small + 40, peaks
