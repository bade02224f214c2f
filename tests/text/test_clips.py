"""Clip planning (HD-VILA and VidLA recipes) and the transcript_to_clips entry point."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.text import (
    ClipRecipe,
    ScaleSpec,
    TranscriptError,
    hdvila_recipe,
    parse_subtitle_file,
    plan_clips,
    transcript_to_clips,
    video_scale,
    vidla_recipe,
    with_video_scale,
)
from schemas import Sentence, TimedWord, Transcript


def sentence_run(lengths, pause=0.5, start=1.0):
    out, t = [], start
    for k, length in enumerate(lengths):
        out.append(Sentence(f"sentence {k} " + "w " * 5, t, t + length, 7))
        t += length + pause
    return out


def check_scale(spans, sentences, duration, spec):
    assert [s.index for s in spans] == list(range(len(spans)))
    for span in spans:
        assert span.scale == spec.scale
        assert spec.min_seconds <= span.duration <= spec.max_seconds
        assert 0 <= span.start < span.end <= duration
        assert span.start == span.sentences[0].start  # cut at sentence boundaries
        assert span.end == min(span.sentences[-1].end, duration)
    for a, b in zip(spans, spans[1:]):
        assert a.end <= b.start  # ordered, no overlap
    used = [s for span in spans for s in span.sentences]
    assert len(used) == len(set(used)) and used == sorted(used, key=lambda s: s.start)


@settings(max_examples=80, deadline=None)
@given(
    lengths=st.lists(st.floats(0.3, 70.0), min_size=1, max_size=60),
    pause=st.floats(0.0, 3.0),
    cut=st.floats(0.2, 1.2),
)
def test_every_scale_is_ordered_bounded_and_inside_the_video(lengths, pause, cut):
    sentences = sentence_run(lengths, pause)
    duration = sentences[-1].end * cut + 0.5
    for recipe in (hdvila_recipe(), vidla_recipe(), with_video_scale(vidla_recipe(), 120.0)):
        spans = plan_clips("v", sentences, duration, recipe)
        for spec in recipe.scales:
            check_scale([s for s in spans if s.scale == spec.scale], sentences, duration, spec)


def test_mean_clip_lengths_follow_the_recipes_on_a_long_video():
    rng = np.random.default_rng(0)
    sentences = sentence_run(rng.uniform(2.0, 9.0, 400), pause=0.4)  # ~45 minutes
    duration = sentences[-1].end + 1
    spans = plan_clips("v", sentences, duration, vidla_recipe()) + plan_clips("v", sentences, duration, hdvila_recipe())
    means = {
        scale: np.mean([s.duration for s in spans if s.scale == scale])
        for scale in ("sentence", "short", "medium", "long")
    }
    assert means["sentence"] == pytest.approx(13.4, abs=1.5)
    assert means["short"] == pytest.approx(13.2, abs=1.5)
    assert means["medium"] == pytest.approx(30.4, abs=2.5)
    assert means["long"] == pytest.approx(60.3, abs=4.0)


def test_short_sentences_merge_and_long_ones_stand_alone_or_are_left_out():
    spec = ScaleSpec("sentence", 10.0, 4.0, 20.0)
    sentences = sentence_run([1.0, 1.5, 2.0, 12.0, 30.0, 3.0, 2.0], pause=0.5)
    spans = plan_clips("v", sentences, 200.0, ClipRecipe("t", (spec,)))
    # three short ones together (adding the 12 s one would go further from the target), the 12 s one
    # alone, the 30 s one left out (longer than max), the last two together
    assert [len(s.sentences) for s in spans] == [3, 1, 2]
    assert spans[2].sentences == tuple(sentences[5:])
    assert spans[0].key == "v_sentence_00000"


def test_no_clip_crosses_the_end_of_the_video():
    sentences = sentence_run([5.0] * 10)
    duration = 30.0
    spans = plan_clips("v", sentences, duration, vidla_recipe())
    assert spans and all(s.end <= duration for s in spans)
    assert all(sent.start < duration for s in spans for sent in s.sentences)


@pytest.mark.parametrize(
    "bad", [dict(scale="huge"), dict(min_seconds=0.0), dict(min_seconds=20.0), dict(max_seconds=5.0)]
)
def test_scale_specs_are_checked(bad):
    args = dict(scale="short", target_seconds=13.0, min_seconds=5.0, max_seconds=25.0) | bad
    with pytest.raises(ValueError):
        ScaleSpec(**args)


@pytest.mark.parametrize("fmt", ["vtt_auto", "vtt", "srt", "json3"])
def test_transcript_to_clips_on_every_format_of_a_generated_video(sample_video_long, fmt):
    transcript = parse_subtitle_file(sample_video_long.subtitles[fmt], sample_video_long.video_id)
    sentences, spans = transcript_to_clips(transcript, sample_video_long.duration, vidla_recipe())
    truth = sample_video_long.sentences
    starts = np.array([s.start for s in sentences])
    ends = np.array([s.end for s in sentences])
    start_err = [np.abs(starts - t.start).min() for t in truth]
    end_err = [np.abs(ends - t.end).min() for t in truth]
    assert np.median(start_err) < 0.5 and np.median(end_err) < 0.5
    assert {s.scale for s in spans} == {"short", "medium", "long"}
    for spec in vidla_recipe().scales:
        check_scale([s for s in spans if s.scale == spec.scale], sentences, sample_video_long.duration, spec)


def test_transcript_past_the_video_end_is_a_typed_error():
    transcript = Transcript("v", (TimedWord("late", 50.0, 50.5),), "vtt", False)
    with pytest.raises(TranscriptError) as info:
        transcript_to_clips(transcript, 10.0, hdvila_recipe())
    assert info.value.reason == "no_sentences" and info.value.video_id == "v"


def test_transcript_far_past_the_video_end_is_a_typed_error_naming_it():
    words = tuple(TimedWord(f"w{k}", 2.0 * k, 2.0 * k + 0.5) for k in range(300))  # 10 minutes
    transcript = Transcript("v", words, "vtt_auto", False)
    with pytest.raises(TranscriptError) as info:
        transcript_to_clips(transcript, 60.0, hdvila_recipe())
    assert info.value.reason == "bad_timestamps" and info.value.video_id == "v"
    assert "vtt_auto: words run to 598s, far past the video's end (60s)" in info.value.detail
    assert transcript_to_clips(transcript, 600.0, hdvila_recipe())[1]  # the right video: clips


def test_video_scale_keeps_a_whole_video_as_one_clip():
    sentences = sentence_run([5.0] * 30, pause=1.0)  # ~3 minutes of speech
    spans = plan_clips("v", sentences, sentences[-1].end + 3.0, with_video_scale(hdvila_recipe()))
    videos = [s for s in spans if s.scale == "video"]
    assert len(videos) == 1 and videos[0].sentences == tuple(sentences)
    assert (videos[0].start, videos[0].end) == (sentences[0].start, sentences[-1].end)
    assert videos[0].key == "v_video_00000"
    assert {s.scale for s in spans} == {"sentence", "video"}  # the recipe's own scales stay


def test_video_scale_cuts_a_long_video_into_full_windows():
    rng = np.random.default_rng(1)
    sentences = sentence_run(rng.uniform(2.0, 9.0, 400), pause=0.4)  # ~45 minutes
    spec = video_scale(max_seconds=256.0)
    duration = sentences[-1].end + 1
    windows = plan_clips("v", sentences, duration, ClipRecipe("t", (spec,)))
    check_scale(windows, sentences, duration, spec)
    # every sentence is in a window (none is longer than a window), and each window but the last is
    # full: the next sentence would not have fitted
    assert [s for w in windows for s in w.sentences] == sentences
    for window, following in zip(windows, windows[1:]):
        assert following.sentences[0].end - window.start > 256.0
    assert min(w.duration for w in windows[:-1]) > 256.0 - 9.4


def test_video_scale_is_checked_and_added_once():
    assert video_scale(30.0, min_seconds=60.0).min_seconds == 30.0  # a short window bounds its minimum
    with pytest.raises(ValueError, match="already has a video scale"):
        with_video_scale(with_video_scale(vidla_recipe()))
    with pytest.raises(ValueError):
        video_scale(max_seconds=0.0)


def test_video_windows_of_a_generated_video(sample_video_long):
    transcript = parse_subtitle_file(sample_video_long.subtitles["vtt_auto"], sample_video_long.video_id)
    recipe = with_video_scale(vidla_recipe(), max_seconds=40.0)
    sentences, spans = transcript_to_clips(transcript, sample_video_long.duration, recipe)
    windows = [s for s in spans if s.scale == "video"]
    assert len(windows) >= 2  # ~90 s of speech in windows of at most 40 s
    check_scale(windows, sentences, sample_video_long.duration, recipe.scales[-1])
    assert all(w.subtitle for w in windows)


def test_given_spans_replace_the_planned_clips_but_not_the_whole_video():
    from curate.text.transcripts import plan_video_clips
    from schemas import VideoMeta

    words, t = [], 0.0
    for k in range(12):  # 12 sentences of 4 words, 2.4 s each
        for w in range(4):
            words.append(TimedWord(f"word{k}{w}" + ("." if w == 3 else ""), t, t + 0.5))
            t += 0.6
    transcript = Transcript("v", tuple(words), "vtt", True)
    meta = VideoMeta("v", "file:///v.mp4", duration=t + 1.0, given_spans=((0.0, 5.0), (10.0, 16.0)))
    recipe = with_video_scale(hdvila_recipe(), max_seconds=120.0)
    _, clips = plan_video_clips((meta, transcript), None, recipe=recipe, use_given_spans=True)
    assert [c.scale for c in clips] == ["sentence", "sentence", "video"]
    assert clips[2].num_words == 48 and clips[2].start == 0.0
