"""Triplet planning of the hierarchical test set (VidLA appendix H) on clip rows worked out by hand."""

import pytest

from curate.text.hierarchy import centred_window, plan_triplets


def sentences(*spans):
    return [
        {"text": f"s{i}", "start": a, "end": b, "num_words": 2, "segmenter": "given"} for i, (a, b) in enumerate(spans)
    ]


def test_centred_window_grows_around_the_centre():
    ss = sentences(*[(4.0 * i, 4.0 * i + 4) for i in range(10)])  # 0-40 s, 4 s each
    # centre 20 is the boundary of s4 and s5; nearest sentence centre: s4 (18) and s5 (22) tie -> s4 first;
    # then s5 (centre 20), s3 or s6 ... until 13.2 s: s3..s6 = 12-28 (16 s), centred on 20
    window = centred_window(ss, 20.0, 13.2)
    assert [s["text"] for s in window] == ["s3", "s4", "s5", "s6"]
    assert centred_window(ss, 20.0, 100.0) == ss  # runs out of sentences
    assert centred_window([], 20.0, 13.2) == []


def long_clip(video, index, start, end, spans):
    return {
        "key": f"{video}_long_{index:05d}",
        "video_id": video,
        "scale": "long",
        "index": index,
        "start": start,
        "end": end,
        "sentences": sentences(*spans),
    }


def test_each_long_clip_gets_a_centred_medium_and_short_window():
    rows = [
        long_clip("a", 0, 0.0, 60.0, [(2.0 * i, 2.0 * i + 2) for i in range(30)]),  # centre 30
        {
            "key": "a_short_00000",
            "video_id": "a",
            "scale": "short",
            "start": 0.0,
            "end": 13.0,
            "sentences": [],
        },
    ]
    [(triplet, windows)] = plan_triplets(rows)
    assert (triplet.long, triplet.medium, triplet.short) == (
        "a_long_00000",
        "a_long_00000-medium",
        "a_long_00000-short",
    )
    # medium: 16 sentences (32 s, the first group >= 30.4 s), centred on 30; short: 7 sentences (14 s
    # >= 13.2 s), one more on the earlier side (ties go to the earlier sentence), so 1 s off centre
    assert windows["medium"][:2] == (14.0, 46.0)
    assert windows["short"][:2] == (22.0, 36.0)
    assert triplet.centre == 30.0 and triplet.offset == 1.0
    assert plan_triplets(rows, max_offset=0.05) == []  # 1 s > 0.05 x 14 s


def test_off_centre_or_too_short_long_clips_are_left_out():
    lopsided = long_clip("b", 0, 0.0, 60.0, [(0.0, 40.0), (40.0, 41.0), (41.0, 60.0)])  # one 40 s sentence
    short_long = long_clip("c", 0, 0.0, 20.0, [(2.0 * i, 2.0 * i + 2) for i in range(10)])  # medium = all
    assert plan_triplets([lopsided, short_long]) == []


def test_at_most_max_triplets_drawn_with_the_seed():
    rows = [long_clip(f"v{v}", 0, 0.0, 60.0, [(2.0 * i, 2.0 * i + 2) for i in range(30)]) for v in range(5)]
    assert len(plan_triplets(rows)) == 5
    two = plan_triplets(rows, max_triplets=2, seed=3)
    assert len(two) == 2 and two == plan_triplets(rows, max_triplets=2, seed=3)
    with pytest.raises(ValueError):
        plan_triplets(rows, max_triplets=0)


def test_a_long_clip_whose_video_is_unreadable_leaves_its_triplet_out(tmp_path):
    """A shard member that is not a video fails that triplet, not the whole command: with nothing else
    to cut, a ValueError says so and no partial shard is left behind."""
    import io
    import tarfile

    import pyarrow.parquet as pq

    from curate.text.hierarchy import write_testset
    from schemas import Clip, Sentence, clips_to_table

    spans = [(2.0 * i, 2.0 * i + 2) for i in range(30)]
    clip = Clip(
        key="a_long_00000",
        video_id="a",
        scale="long",
        index=0,
        start=0.0,
        end=60.0,
        duration=60.0,
        subtitle="",
        sentences=tuple(Sentence(**s) for s in sentences(*spans)),
        num_words=60,
        shard="00000.tar",
    )
    (tmp_path / "src" / "shards").mkdir(parents=True)
    with tarfile.open(tmp_path / "src" / "shards" / "00000.tar", "w") as tar:
        info = tarfile.TarInfo(f"{clip.key}.mp4")
        info.size = len(b"not a video")
        tar.addfile(info, io.BytesIO(b"not a video"))
    pq.write_table(clips_to_table([clip]), tmp_path / "src" / "shards" / "00000.parquet")  # the index
    with pytest.raises(ValueError, match="no triplet .* could be cut"):
        write_testset(tmp_path / "src", tmp_path / "out")
    assert list((tmp_path / "out" / "shards").iterdir()) == []
