"""curate.models.summarize without a model: the prompt, which clips get which summary, cleaning answers."""

import pytest

from curate.errors import StageError
from curate.models.summarize import attach_summaries, captions_as_sentences, clean_summary, summary_jobs, summary_prompt
from schemas import Clip, clip_key


def make_clip(scale, index, subtitle, frame_captions=()):
    return Clip(
        clip_key("v", scale, index),
        "v",
        scale,
        index,
        0.0,
        10.0,
        10.0,
        subtitle,
        (),
        len(subtitle.split()),
        frame_captions=tuple(frame_captions),
    )


def test_prompt_is_vidla_appendix_a4():
    assert summary_prompt("A man cooks. He eats.") == (
        "Summarize the following sentences into a single sentence, not exceeding 25 words. "
        "Do not output any additional text and use any external information.\nA man cooks. He eats."
    )
    assert "not exceeding 12 words" in summary_prompt("x", 12)


def test_captions_become_sentences():
    assert captions_as_sentences(["a man in a kitchen", " a dog. ", ""]) == "a man in a kitchen. a dog."


def test_only_medium_long_and_video_clips_are_summarized():
    clips = [
        make_clip("short", 0, "short words", ["a cat"]),
        make_clip("sentence", 0, "one sentence", ["a cat"]),
        make_clip("medium", 0, "medium words", ["a cat", "a dog"]),
        make_clip("long", 0, "long words"),
        make_clip("medium", 1, "   "),
        make_clip("video", 0, "all the words", ["a cat"]),
    ]
    jobs = {(key, field): prompt for key, field, prompt in summary_jobs(clips, 25)}
    # short and sentence clips keep their texts unsummarized (VidLA table 1); whole videos (seed 003's
    # HowTo100M Summary) are summarized like long clips
    assert set(jobs) == {
        (clips[2].key, "caption"),
        (clips[2].key, "subtitle_summary"),
        (clips[3].key, "subtitle_summary"),
        (clips[5].key, "caption"),
        (clips[5].key, "subtitle_summary"),
    }
    assert jobs[(clips[2].key, "caption")].endswith("\na cat. a dog.")
    assert jobs[(clips[3].key, "subtitle_summary")].endswith("\nlong words")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("A man cooks fish in a small kitchen.", "A man cooks fish in a small kitchen."),
        ("  Here is a summary of the sentences in 25 words or less:\n\nA man cooks fish.", "A man cooks fish."),
        ('Sure! Here\'s a one-sentence summary:\n"A man cooks fish."', "A man cooks fish."),
        ("Summary: A man cooks fish.", "A man cooks fish."),
        ("The summary is: a man cooks fish", "a man cooks fish"),
        ("“A man cooks fish.”\n\nNote: I did not use any external information.", "A man cooks fish."),
        ("**A man cooks fish.**", "A man cooks fish."),
    ],
)
def test_clean_summary_strips_preambles_quotes_and_notes(raw, expected):
    assert clean_summary(raw, 25) == expected


def test_clean_summary_enforces_the_word_limit():
    long_first = " ".join(["word"] * 30) + "."
    with pytest.raises(StageError) as err:
        clean_summary(long_first, 25)
    assert err.value.reason == "summary_too_long" and "30 words, limit 25" in err.value.detail
    # over the limit but its first sentence fits: that sentence is the summary
    assert clean_summary("A man cooks fish. " + " ".join(["more"] * 30), 25) == "A man cooks fish."
    assert clean_summary(" ".join(["w"] * 25), 25) == " ".join(["w"] * 25)


@pytest.mark.parametrize("raw", ["", "   \n ", '""', "Here is a summary:\n\n"])
def test_clean_summary_rejects_empty_answers(raw):
    with pytest.raises(StageError) as err:
        clean_summary(raw, 25)
    assert err.value.reason == "summary_empty"


def test_attach_summaries_fills_fields_and_drops_failed_clips():
    clips = [make_clip("medium", 0, "m", ["a cat"]), make_clip("long", 0, "s", ["a dog"])]
    answers = [
        (clips[0].key, "caption", "A cat sits.", None),
        (clips[0].key, "subtitle_summary", "Someone talks.", None),
        (clips[1].key, "caption", None, ("summary_empty", "the model answered ''")),
    ]
    kept, failures = attach_summaries("v", clips, answers)
    assert [(c.key, c.caption, c.subtitle_summary) for c in kept] == [(clips[0].key, "A cat sits.", "Someone talks.")]
    [failure] = failures
    assert (failure.key, failure.stage, failure.reason) == (clips[1].key, "summarize", "summary_empty")
    assert "caption: the model answered" in failure.detail
