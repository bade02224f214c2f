"""The vidla recipe with the model stages on an output that is not on the local disk (memfs://, standing
in for gs:// on a multi-worker runner): downloads go to a worker-local scratch folder and are deleted
once a video's clips are cut and its frames decoded, so nothing after that may read the source media.
Captions and summaries must still arrive in the shards and clips.parquet."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pipeline"))

from factories import hosted_info
from memfs import MemoryFileSystem  # noqa: E402 - registers memfs://

from curate import files  # noqa: E402
from curate.media.download import DownloadConfig, download_root  # noqa: E402
from curate.models.config import AnnotateConfig  # noqa: E402
from curate.models.summarize import captions_as_sentences  # noqa: E402
from curate.output import failures
from samplemedia import make_sample_video, sentences_for  # noqa: E402
from schemas import safe_id  # noqa: E402


@pytest.fixture
def memfs():
    MemoryFileSystem.clear()
    yield MemoryFileSystem.files
    MemoryFileSystem.clear()


def tiny_config(blip2: str, llama: str) -> AnnotateConfig:
    return AnnotateConfig(
        caption_model=blip2,
        caption_max_new_tokens=8,
        summary_model=llama,
        summary_backend="transformers",
        summary_max_new_tokens=10,
        device="cpu",
    )


def remote_run_config(out: str, manifest: str, annotate: AnnotateConfig):
    from curate.config import RunConfig
    from dags import vidla

    return RunConfig(
        recipe="vidla",
        input=manifest,
        output=out,
        cut=vidla.RECIPE.cut,
        use_given_spans=vidla.RECIPE.use_given_spans,
        annotate=annotate,
        download=DownloadConfig(output_dir=files.join(out, ".downloads"), backoff_base_s=0.01),
    )


@pytest.mark.slow
def test_vidla_with_models_on_a_remote_output(fake_youtube, memfs, tiny_blip2, tiny_llama, tmp_path, monkeypatch):
    from curate.beam.recipe import run_recipe
    from dags import vidla

    monkeypatch.chdir(tmp_path)  # a remote path opened as a local file would show up here as ./memfs:/
    out = "memfs://vidla"
    rows = []
    for i, video_id in enumerate(("vid_a", "vid b;$(x)")):
        sample = make_sample_video(
            tmp_path / f"media{i}", f"media{i}", sentences_for(36, seed=30 + i), min_duration=36, fps=4
        )
        # the probe's saved info (as an earlier probe left it in DIR/.probe): read back, not extracted
        local_info = hosted_info(fake_youtube, sample, tmp_path / "hosted", video_id=video_id, epoch=int(time.time()))
        rows.append({"video_id": video_id, "url": json.loads(Path(local_info).read_text())["webpage_url"]})
        files.write_bytes_atomic(f"{out}/.probe/{safe_id(video_id)}.info.json", Path(local_info).read_bytes())
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = remote_run_config(out, str(manifest), tiny_config(tiny_blip2, tiny_llama))
    scratch = download_root(cfg.download)
    shutil.rmtree(scratch, ignore_errors=True)  # what a crashed earlier test left

    # the captioner gets decoded frames, never the media: on this in-process runner every video is cut,
    # decoded and discarded before the first (fixed-size, so end-of-bundle) caption batch
    from curate.models.caption import Blip2Captioner

    caption, downloads_seen = Blip2Captioner.caption, []

    def caption_after_discard(self, batch):
        videos = scratch / "videos"
        downloads_seen.append(sorted(os.listdir(videos)) if videos.exists() else [])
        return caption(self, batch)

    monkeypatch.setattr(Blip2Captioner, "caption", caption_after_discard)
    run_recipe(vidla.build, cfg, [])
    assert downloads_seen and all(seen == [] for seen in downloads_seen), downloads_seen

    assert failures.read_failures_jsonl(files.join(out, "failures.jsonl")) == []
    table = pq.read_table(io.BytesIO(files.read_bytes(files.join(out, "clips.parquet"))))
    rows = table.to_pylist()
    assert {r["video_id"] for r in rows} == {"vid_a", "vid b;$(x)"}
    assert {r["scale"] for r in rows} >= {"short", "medium"}
    for r in rows:
        assert r["frame_captions"] and len(r["frame_captions"]) == len(r["frame_times"])
        assert all(r["start"] <= t < r["end"] for t in r["frame_times"])
        if r["scale"] == "short":  # short clips keep their texts unsummarized (VidLA table 1)
            assert r["caption"] == captions_as_sentences(r["frame_captions"]) and r["subtitle_summary"] is None
        else:
            assert r["caption"] and r["subtitle_summary"]
    # the shard samples carry the same annotations
    samples = {}
    for path in (p for p in memfs if p.startswith(f"{out}/shards/") and p.endswith(".tar")):
        with tarfile.open(fileobj=io.BytesIO(memfs[path][0])) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    samples[member.name[:-5]] = json.load(tar.extractfile(member))
    assert set(samples) == {r["key"] for r in rows}
    for r in rows:
        for field in ("frame_captions", "frame_times", "caption", "subtitle_summary"):
            assert samples[r["key"]][field] == r[field], (r["key"], field)
    # every download folder is gone, nothing is left staged, nothing went to a local "memfs:" path
    videos = scratch / "videos"
    assert not videos.exists() or not os.listdir(videos)
    assert not [p for p in memfs if p.startswith(f"{out}/.staging/")]
    assert not (tmp_path / "memfs:").exists()

    before = {p: v for p, v in memfs.items() if p.startswith(f"{out}/shards/")}
    run_recipe(vidla.build, cfg, [])  # resume: every video is done, nothing is redone
    assert {p: v for p, v in memfs.items() if p.startswith(f"{out}/shards/")} == before


def test_vidla_with_models_translates_to_a_dataflow_job(tiny_blip2, tiny_llama):
    """Under Dataflow options (dry run, nothing submitted) the graph with the model stages pickles and
    its coders resolve; the source media is read only by the fused CutAndDecodeFrames; the
    --model-accelerator hint reaches the job on the model steps alone (right fitting)."""
    import dataclasses

    import apache_beam as beam
    import apache_beam.runners.dataflow.internal.apiclient  # noqa: F401 - the gcp extra (scripts/setup.sh)

    from curate.beam.recipe import pipeline_options
    from curate.output.resume import ResumeState
    from dags import vidla

    options = [
        "--runner=DataflowRunner",
        "--project=my-project",
        "--region=us-central1",
        "--job_name=vidla-models",
        "--temp_location=gs://my-bucket/tmp",
        "--no_auth",
        "--dry_run=True",
    ]
    hint = "type:nvidia-l4;count:1;install-nvidia-driver"
    annotate = dataclasses.replace(tiny_config(tiny_blip2, tiny_llama), model_accelerator=hint)
    cfg = remote_run_config("gs://my-bucket/out", "gs://my-bucket/videos.jsonl", annotate)
    p = beam.Pipeline(options=pipeline_options(options))
    vidla.build(p, cfg, ResumeState(0))
    proto = p.run().job.proto_pipeline
    names = {t.unique_name for t in proto.components.transforms.values()}
    environments = proto.components.environments
    on_gpu = {
        t.unique_name
        for t in proto.components.transforms.values()
        if t.environment_id
        and environments[t.environment_id].resource_hints.get("beam:resources:accelerator:v1") == hint.encode()
    }
    assert on_gpu and all(
        name.startswith(("AnnotateClips/CaptionClipFrames/Caption", "AnnotateClips/SummarizeClips/Summarize"))
        for name in on_gpu
    ), on_gpu
    for stage in (
        "DownloadVideos",
        "AnnotateClips/CutAndDecodeFrames",
        "AnnotateClips/CaptionClipFrames",
        "AnnotateClips/SummarizeClips",
        "AnnotateClips/CommitStaged",
        "WriteShards",
        "FinalizeOutputs",
    ):
        assert stage in names, stage
    assert "CutClips" not in names  # the cut happens in CutAndDecodeFrames, before the download is discarded
