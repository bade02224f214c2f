"""Banded DTW (same path as dtw-python) and sentence alignment to timed words."""

import dtw
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.text.align import align_sentences, band_width, banded_dtw
from schemas import TimedWord


def dtw_python_path(a, b, band=None):
    cost = (np.asarray(a)[:, None] != np.asarray(b)[None, :]).astype(float)
    kwargs = {"window_type": "slantedband", "window_args": {"window_size": band}} if band is not None else {}
    result = dtw.dtw(cost, step_pattern="symmetric2", **kwargs)
    return result.index1, result.index2


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(st.integers(0, 5), min_size=1, max_size=40),
    b=st.lists(st.integers(0, 5), min_size=1, max_size=40),
    band=st.integers(2, 50),
)
def test_banded_dtw_is_dtw_python_with_a_slanted_band(a, b, band):
    band = max(band, band_width(len(a), len(b)) // 4, int(np.ceil(max(len(a), len(b)) / min(len(a), len(b)))) + 1)
    i, j = banded_dtw(np.array(a), np.array(b), band)
    want_i, want_j = dtw_python_path(a, b, band)
    assert np.array_equal(i, want_i) and np.array_equal(j, want_j)


def test_banded_dtw_equals_full_dtw_on_near_diagonal_sequences():
    rng = np.random.default_rng(0)
    b = rng.integers(0, 200, 600)
    a = np.insert(np.delete(b, [10, 300, 301]), [50, 400], [999, 998])  # deletions and insertions
    i, j = banded_dtw(a, b, band_width(len(a), len(b)))
    want_i, want_j = dtw_python_path(a, b)
    assert np.array_equal(i, want_i) and np.array_equal(j, want_j)


def test_empty_sequences_are_refused():
    with pytest.raises(ValueError):
        banded_dtw(np.array([], np.int64), np.array([1]), 5)


def words_of(text, step=0.5, start=0.0):
    return [TimedWord(w, start + k * step, start + k * step + 0.4) for k, w in enumerate(text.split())]


def test_punctuated_sentences_get_their_words_times_despite_case_punctuation_and_merges():
    words = words_of("so i went to the store yesterday it was all right i think what do you want")
    sentences = align_sentences(
        ["So I went to the store yesterday.", "It was alright, I think.", "What do you want?"],
        words,
        segmenter="punctuators:test",
    )
    assert [s.text for s in sentences] == [
        "So I went to the store yesterday.",
        "It was alright, I think.",
        "What do you want?",
    ]
    assert [(s.start, s.end) for s in sentences] == [(0.0, 3.4), (3.5, 6.4), (6.5, 8.4)]
    assert all(s.segmenter == "punctuators:test" for s in sentences)
    assert [s.num_words for s in sentences] == [7, 5, 4]


def test_a_sentence_whose_tokens_found_no_word_joins_the_previous_one():
    words = words_of("hello there friend")
    sentences = align_sentences(["Hello there friend.", "Friend!"], words, segmenter="x")
    assert [s.text for s in sentences] == ["Hello there friend. Friend!"]
    assert (sentences[0].start, sentences[0].end) == (0.0, 1.4)


def test_long_transcript_alignment_gives_ordered_sentences_at_the_true_boundaries():
    rng = np.random.default_rng(1)
    vocab = [f"w{k}" for k in range(300)]
    sentences_tokens = [list(rng.choice(vocab, rng.integers(4, 20))) for _ in range(120)]
    flat = [t for s in sentences_tokens for t in s]
    words = words_of(" ".join(flat))
    texts = [" ".join(s).capitalize() + "." for s in sentences_tokens]
    sentences = align_sentences(texts, words, segmenter="x")
    assert len(sentences) == len(texts)
    first = np.cumsum([0] + [len(s) for s in sentences_tokens])[:-1]
    assert [s.start for s in sentences] == pytest.approx([words[k].start for k in first])
    assert all(a.end <= b.start for a, b in zip(sentences, sentences[1:]))
