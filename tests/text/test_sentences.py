"""Sentences: given punctuation, the punctuators model (a real tiny one, through the package's own
loading and inference code), and the pause fallback."""

import pytest

from curate.text import (
    PauseSegmenter,
    PunctuatorError,
    TranscriptError,
    load_punctuator,
    make_sentences,
    parse_subtitle_file,
)
from curate.text.sentences import ends_sentence, pause_spans, punctuated_spans
from curate.text.words import normalize_token
from schemas import TimedWord, Transcript


def timed(text, step=0.4, pauses=None):
    """Words every `step` s lasting 0.3 s; pauses[i] extra seconds of silence after word i."""
    out, t = [], 0.0
    for i, w in enumerate(text.split()):
        out.append(TimedWord(w, t, t + 0.3))
        t += step + (pauses or {}).get(i, 0.0)
    return tuple(out)


@pytest.mark.parametrize(
    "word, ends",
    [
        ("end.", True),
        ("why?", True),
        ("wow!", True),
        ("so…", True),
        ('"quoted."', True),
        ("(aside.)", True),
        ("Mr.", False),
        ("e.g.", False),
        ("A.", False),
        ("3.5", False),
        ("好。", True),
        ("本当？", True),
        ("「行け！」", True),
        ("但是，", False),
        ("word,", False),
        ("plain", False),
    ],
)
def test_ends_sentence(word, ends):
    assert ends_sentence(word) is ends


def test_punctuated_text_is_split_after_sentence_ends_only():
    words = timed("Mr. Smith arrived. Did he? Yes, at 3.5 p.m. sharp! and then")
    assert punctuated_spans(words) == [(0, 3), (3, 5), (5, 10), (10, 12)]


def test_pause_segmenter_cuts_at_pauses_merges_short_pieces_and_splits_long_ones():
    config = PauseSegmenter(min_pause=0.5, min_words=3, max_words=6, max_seconds=100)
    # a pause after word 4 (a sentence end), one after word 5 (leaves a 1-word piece), a long run
    text = "a b c d e f g h i j k l m n o p"
    words = timed(text, pauses={4: 0.8, 5: 0.6, 10: 0.2})
    spans = pause_spans(words, config)
    assert spans[0] == (0, 5)
    assert all(b - a >= 3 for a, b in spans) and all(b - a <= 6 for a, b in spans)
    assert [i for span in spans for i in range(*span)] == list(range(16))  # every word once, in order
    assert (6, 11) in spans or (5, 11) in spans  # the long run was cut at its longest silence (after k)


def test_over_long_given_sentences_are_cut_at_pauses_then_commas():
    # 60 words of lyrics without a full stop: 24 s, one pause of 0.5 s after word 29, commas
    # after words 9 and 44
    text = " ".join(f"w{i}," if i in (9, 44) else f"w{i}" for i in range(60)) + "."
    words = timed(text, pauses={29: 0.5})
    transcript = Transcript("v", words, "srt", punctuated=True)
    sentences = make_sentences(transcript, pause_config=PauseSegmenter(max_seconds=20.0))
    assert [s.num_words for s in sentences] == [30, 30]  # at the pause
    sentences = make_sentences(transcript, pause_config=PauseSegmenter(max_seconds=10.0))
    # the halves are still too long and have no pause: cut after the comma nearest their middle
    assert [s.text.split()[-1] for s in sentences][:2] == ["w9,", "w29"]
    assert all(s.end - s.start <= 10.0 for s in sentences)
    assert " ".join(s.text for s in sentences) == text
    # within the cap nothing changes
    assert len(make_sentences(transcript, pause_config=PauseSegmenter(max_seconds=30.0))) == 1


def test_pause_segmenter_bounds_sentence_length_in_seconds():
    words = timed(" ".join(["w"] * 60), step=0.5)
    spans = pause_spans(words, PauseSegmenter(max_words=100, max_seconds=8.0))
    assert all(words[b - 1].end - words[a].start <= 8.0 for a, b in spans)


def test_make_sentences_modes_and_segmenter_names(sample_video):
    auto = parse_subtitle_file(sample_video.subtitles["vtt_auto"], sample_video.video_id)
    manual = parse_subtitle_file(sample_video.subtitles["srt"], sample_video.video_id)
    given = make_sentences(manual)
    assert [s.text for s in given] == [s.text for s in sample_video.sentences]
    assert {s.segmenter for s in given} == {"given"}
    paused = make_sentences(auto)
    assert {s.segmenter for s in paused} == {"pause"}
    # the generated speech pauses 0.6 s between sentences: the fallback finds them
    assert len(paused) == len(sample_video.sentences)
    for got, want in zip(paused, sample_video.sentences):
        assert got.start == pytest.approx(want.start, abs=0.01)
        assert got.end == pytest.approx(want.end, abs=0.5)


def test_no_words_is_a_typed_error():
    with pytest.raises(TranscriptError) as info:
        make_sentences(Transcript("v", (), "vtt", False))
    assert info.value.reason == "no_words" and info.value.video_id == "v"


def test_load_punctuator_none_means_the_fallback():
    assert load_punctuator(None) is None and load_punctuator("") is None


def test_load_punctuator_errors_name_the_model(tmp_path):
    with pytest.raises(PunctuatorError, match="no config.yaml"):
        load_punctuator(str(tmp_path))
    (tmp_path / "config.yaml").write_text("max_length: 8\n")
    with pytest.raises(PunctuatorError, match=r"expected one \*\.model"):
        load_punctuator(str(tmp_path))
    # offline (HF_HUB_OFFLINE=1 in conftest), a hub name is refused with the hub's reason
    with pytest.raises(PunctuatorError, match="pcs_en"):
        load_punctuator("pcs_en")
    with pytest.raises(PunctuatorError, match="not-a-model"):
        load_punctuator("not-a-model")


def test_real_tiny_punctuators_model_is_loaded_once_and_aligned_to_the_words(tiny_punctuator_dir, sample_video):
    punctuator = load_punctuator(tiny_punctuator_dir)
    assert load_punctuator(tiny_punctuator_dir) is punctuator  # loaded once per process
    assert punctuator.segmenter == "punctuators:tiny-punct"
    transcript = parse_subtitle_file(sample_video.subtitles["vtt_auto"], sample_video.video_id)
    sentences = make_sentences(transcript, punctuator)
    assert sentences and {s.segmenter for s in sentences} == {"punctuators:tiny-punct"}
    # the random model punctuates, cases and splits at random (even inside words): the alignment
    # still keeps every letter, in order, and gives ordered sentences at word boundaries
    letters = normalize_token("".join(s.text for s in sentences))
    assert letters == normalize_token("".join(w.text for w in transcript.words))
    starts, ends = {w.start for w in transcript.words}, {w.end for w in transcript.words}
    assert all(s.start in starts and s.end in ends for s in sentences)
    assert all(a.end <= b.start for a, b in zip(sentences, sentences[1:]))
