"""The test factories, in one place: builders of media, models, shards, benchmark annotations, runs and
a fake YouTube (one module each), re-exported here (``from factories import make_tiny_shards``), and
their pytest fixtures (factories.fixtures, registered for every test by tests/conftest.py).

The builder modules import no pytest: scripts/check_vllm_backend.py builds the tiny Llama in a venv
that has none."""

from factories.annotations import write_activitynet, write_didemo, write_msrvtt_1ka, write_msvd, write_vatex
from factories.media import SAMPLE_SENTENCES, declare_height, make_clip_video, make_clip_videos
from factories.models import (
    make_tiny_blip2,
    make_tiny_llama,
    make_tiny_punctuator,
    make_tiny_tokenizer,
    save_tiny_clip,
    saved_tiny_clip,
)
from factories.runs import (
    CuratedRun,
    benchmark_args,
    finetune_args,
    fit_args,
    last_json_line,
    make_curated_run,
    read_failures,
    resume_sets,
    run_measured,
    train_one_step,
)
from factories.shards import (
    committed_output,
    make_clip,
    make_curated_shards,
    make_image_shards,
    make_tiny_shards,
    sentence,
    write_shards,
)
from factories.youtube import FakeYouTube, hosted_info

__all__ = [
    "CuratedRun",
    "FakeYouTube",
    "SAMPLE_SENTENCES",
    "benchmark_args",
    "committed_output",
    "declare_height",
    "finetune_args",
    "fit_args",
    "hosted_info",
    "last_json_line",
    "make_clip",
    "make_clip_video",
    "make_clip_videos",
    "make_curated_run",
    "make_curated_shards",
    "make_image_shards",
    "make_tiny_blip2",
    "make_tiny_llama",
    "make_tiny_punctuator",
    "make_tiny_shards",
    "make_tiny_tokenizer",
    "read_failures",
    "resume_sets",
    "run_measured",
    "save_tiny_clip",
    "saved_tiny_clip",
    "sentence",
    "train_one_step",
    "write_activitynet",
    "write_didemo",
    "write_msrvtt_1ka",
    "write_msvd",
    "write_shards",
    "write_vatex",
]
