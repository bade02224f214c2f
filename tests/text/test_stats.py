"""Statistics in the shape of VidLA table 1 / HD-VILA table 1."""

import pytest

from curate.text import clip_statistics, format_statistics
from schemas import Clip, ClipSpan, Sentence


def sentence(text, start, end):
    return Sentence(text, start, end, len(text.split()))


SPANS = [
    ClipSpan("a", "short", 0, 0.0, 10.0, (sentence("one two three", 0, 4), sentence("four five", 5, 10))),
    ClipSpan("a", "short", 1, 10.0, 26.0, (sentence("six seven eight nine", 10, 26),)),
    ClipSpan(
        "b",
        "medium",
        0,
        0.0,
        30.0,
        (sentence("a b", 0, 10), sentence("c d", 10, 20), sentence("e f", 20, 30)),
    ),
]


def test_statistics_per_scale_and_overall():
    stats = clip_statistics(SPANS)
    assert list(stats["scales"]) == ["short", "medium"]
    short = stats["scales"]["short"]
    assert short["clips"] == 2 and short["videos"] == 1
    assert short["mean_length_s"] == pytest.approx(13.0)
    assert short["sentences_per_clip"] == pytest.approx(1.5)
    assert short["words_per_clip"] == pytest.approx(4.5)
    assert short["words_per_sentence"] == pytest.approx(3.0)
    assert short["summarized_subtitle_words"] is None and short["captions_per_clip"] == 0
    everything = stats["all"]
    assert everything["clips"] == 3 and everything["videos"] == 2 and everything["sentences"] == 6
    assert everything["hours"] == pytest.approx(56.0 / 3600)


def test_statistics_of_written_clips_and_parquet_rows_agree():
    clips = [
        Clip(
            key=s.key,
            video_id=s.video_id,
            scale=s.scale,
            index=s.index,
            start=s.start,
            end=s.end,
            duration=s.duration,
            subtitle=s.subtitle,
            sentences=s.sentences,
            num_words=sum(x.num_words for x in s.sentences),
            caption="a man rides a red bike",
            subtitle_summary="a summary" if s.scale != "short" else None,
            frame_captions=("a man", "a bike on a road"),
        )
        for s in SPANS
    ]
    rows = [c._asdict() | {"sentences": [x._asdict() for x in c.sentences]} for c in clips]
    stats = clip_statistics(clips)
    assert stats == clip_statistics(rows)
    medium = stats["scales"]["medium"]
    assert medium["captions_per_clip"] == 2 and medium["words_per_clip_captions"] == 7
    assert medium["summarized_caption_words"] == 6 and medium["summarized_subtitle_words"] == 2
    assert stats["scales"]["short"]["summarized_subtitle_words"] is None


def test_format_statistics_prints_both_tables():
    table = format_statistics(clip_statistics(SPANS))
    assert "| short | 2 | 13.0 | 1.5 | 4.5 | - |" in table
    assert "| # videos | # clips | # sentences |" in table and "| 2 | 3 | 6 | 18.7 | 2.5 | 0.02 |" in table


def test_empty_statistics():
    stats = clip_statistics([])
    assert stats["scales"] == {} and stats["all"]["clips"] == 0
    assert "# clips" in format_statistics(stats)


def test_transcript_repairs_count_each_video_once_and_show_in_the_report():
    from schemas import clips_to_table
    from schemas.arrow import clip_to_row

    repaired = {"a": (("overlap_trimmed", 12), ("word_start_clamped", 3)), "b": ()}
    clips = [
        Clip(
            s.key,
            s.video_id,
            s.scale,
            s.index,
            s.start,
            s.end,
            s.duration,
            s.subtitle,
            s.sentences,
            sum(x.num_words for x in s.sentences),
            transcript_repairs=repaired[s.video_id],
        )
        for s in SPANS
    ]
    stats = clip_statistics(clips)
    assert stats["transcript_repairs"] == {
        "videos": 2,
        "videos_repaired": 1,
        "by_kind": {"overlap_trimmed": 12, "word_start_clamped": 3},
    }
    # the same from clips.parquet rows (repairs as {"kind", "count"} structs)
    assert clip_statistics(clips_to_table(clips).to_pylist()) == stats
    assert clip_to_row(clips[0])["transcript_repairs"][0] == {"kind": "overlap_trimmed", "count": 12}
    assert (
        "Transcript repairs: 1 of 2 videos had local subtitle defects repaired instead of being dropped "
        "(overlap_trimmed 12, word_start_clamped 3)." in format_statistics(stats)
    )
