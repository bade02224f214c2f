"""Triplet selection of the hierarchical test set (VidLA appendix H) on clip rows worked out by hand."""

import pytest

from curate.text.hierarchy import select_triplets


def clip(video, scale, index, start, end, subtitle="some words"):
    return {"key": f"{video}_{scale}_{index:05d}", "video_id": video, "scale": scale, "start": start,
            "end": end, "subtitle": subtitle, "caption": None, "subtitle_summary": None}


def test_nested_clips_centred_on_the_short_clip_make_a_triplet():
    rows = [
        clip("a", "short", 0, 20, 32),  # centre 26
        clip("a", "short", 1, 32, 44),  # centre 38
        clip("a", "medium", 0, 12, 40),  # centre 26: holds short 0 only
        clip("a", "long", 0, 0, 55),  # centre 27.5, within 6 s (half of short 0) of 26
        clip("a", "long", 1, 0, 80),  # centre 40: too far from 26
    ]
    [t] = select_triplets(rows)
    assert (t.short, t.medium, t.long) == ("a_short_00000", "a_medium_00000", "a_long_00000")
    assert t.centre == 26 and t.offset == pytest.approx(1.5)
    # a tighter bound (0.1 x 12 s = 1.2 s < 1.5 s) leaves nothing
    assert select_triplets(rows, max_offset=0.1) == []


def test_not_nested_or_textless_clips_are_left_out():
    rows = [
        clip("a", "short", 0, 20, 32),
        clip("a", "medium", 0, 21, 31),  # does not hold the short clip
        clip("a", "long", 0, 0, 52),
        clip("b", "short", 0, 20, 32, subtitle=""),  # no text
        clip("b", "medium", 0, 12, 40),
        clip("b", "long", 0, 0, 52),
    ]
    assert select_triplets(rows) == []


def test_each_clip_is_in_one_triplet_the_best_centred_first():
    rows = [
        clip("a", "short", 0, 20, 30),  # centre 25
        clip("a", "short", 1, 21, 31),  # centre 26 (overlapping plans can happen across recipes)
        clip("a", "medium", 0, 10, 42),  # centre 26
        clip("a", "long", 0, 0, 52),  # centre 26
    ]
    # short 0 is 1 s off both centres, short 1 is on them: short 1 takes the medium and long clips
    [t] = select_triplets(rows)
    assert t.short == "a_short_00001" and t.offset == 0


def test_at_most_max_triplets_drawn_with_the_seed():
    rows = []
    for v in range(5):
        rows += [clip(f"v{v}", "short", 0, 20, 32), clip(f"v{v}", "medium", 0, 12, 40),
                 clip(f"v{v}", "long", 0, 0, 52)]
    assert len(select_triplets(rows)) == 5
    two = select_triplets(rows, max_triplets=2, seed=3)
    assert len(two) == 2 and two == select_triplets(rows, max_triplets=2, seed=3)
    with pytest.raises(ValueError):
        select_triplets(rows, max_triplets=0)
