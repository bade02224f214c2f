"""Fuzzing the subtitle parsers: whatever the bytes, the result is a well-formed Transcript or a
TranscriptError, never another exception. Bounded so the whole file runs in seconds."""

import json
import os
import re
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import samplemedia as samples
from curate.text import TranscriptError, parse_subtitle_file, transcript_from_asr
from curate.text.words import MAX_TIME_SECONDS
from samplemedia.speech import _word_times

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_SHAPES = settings(FUZZ, max_examples=80)  # for the tests that build whole files of a shape
_DIR = tempfile.mkdtemp(prefix="fuzz-subtitles-")

_EXAMPLE_WORDS = [
    samples.TruthSentence("Hello there, friend.", 0.5, 1.7, _word_times("Hello there, friend.", 0.5, 1.7)),
    samples.TruthSentence("How are you today?", 2.3, 3.9, _word_times("How are you today?", 2.3, 3.9)),
]
SEEDS = {
    "vtt": samples.auto_vtt(_EXAMPLE_WORDS),
    "srt": samples.srt(_EXAMPLE_WORDS),
    "json3": samples.auto_json3(_EXAMPLE_WORDS),
    "manual.vtt": samples.manual_vtt(_EXAMPLE_WORDS),
}


def parse_bytes(data: bytes, name: str):
    path = os.path.join(_DIR, name)
    with open(path, "wb") as f:
        f.write(data)
    try:
        transcript = parse_subtitle_file(path, "fuzz")
    except TranscriptError as exc:
        assert exc.reason and path in exc.detail
        return None
    words = transcript.words
    assert words
    for a, b in zip(words, words[1:]):
        assert a.start <= b.start and a.end <= b.start + 1e-9
    assert all(0 <= w.start <= w.end <= MAX_TIME_SECONDS + 600 and w.text.strip() for w in words)
    return transcript


@FUZZ
@given(data=st.binary(max_size=400), ext=st.sampled_from(["vtt", "srt", "json3", "txt"]))
def test_random_bytes(data, ext):
    parse_bytes(data, f"random.{ext}")


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    cut=st.floats(0, 1),
    junk=st.text(max_size=20),
    where=st.floats(0, 1),
    drop=st.integers(0, 30),
)
def test_mutated_valid_files(seed, cut, junk, where, drop):
    text = SEEDS[seed]
    truncated = text[: int(len(text) * cut)]
    at = int(len(truncated) * where)
    mutated = truncated[:at] + junk + truncated[at + drop :]
    ext = seed.split(".")[-1]
    parse_bytes(mutated.encode("utf-8", "surrogatepass"), f"mutated.{ext}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**9) | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["events", "segs", "utf8", "tStartMs", "dDurationMs", "tOffsetMs", "aAppend", "x"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@FUZZ
@given(doc=json_values)
def test_random_json3_structures(doc):
    parse_bytes(json.dumps(doc).encode(), "random.json3")


@FUZZ
@given(
    words=st.lists(st.from_regex(r"[a-z]{1,9}", fullmatch=True), min_size=1, max_size=40),
    gaps=st.lists(st.floats(0.05, 3.0), min_size=40, max_size=40),
)
def test_generated_auto_captions_give_every_word_exactly_once(words, gaps):
    """Any word sequence, written as YouTube rolling captions, parses back to exactly itself."""
    t, sentence_words = 0.2, []
    for word, gap in zip(words, gaps):
        sentence_words.append(samples.TruthWord(word, t, t + gap * 0.8))
        t += gap
    truth = [
        samples.TruthSentence(" ".join(words), sentence_words[0].start, sentence_words[-1].end, tuple(sentence_words))
    ]
    for name, content in (("gen.vtt", samples.auto_vtt(truth)), ("gen.json3", samples.auto_json3(truth))):
        transcript = parse_bytes(content.encode(), name)
        assert [w.text for w in transcript.words] == words
        assert all(abs(a.start - b.start) <= 0.0011 for a, b in zip(transcript.words, sentence_words))


@FUZZ
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "word": st.text(max_size=8),
                "start": st.floats(-5, 100) | st.just(float("nan")),
                "end": st.floats(-5, 100) | st.just(float("nan")),
                "probability": st.floats(0, 1),
            }
        ),
        max_size=12,
    )
)
def test_random_asr_words(words):
    try:
        transcript = transcript_from_asr([{"start": 0.0, "end": 1.0, "text": "", "words": words}], "fuzz", "m")
    except TranscriptError as exc:
        assert exc.reason
        return
    assert all(a.start <= b.start for a, b in zip(transcript.words, transcript.words[1:]))


def _truth(words, gaps, jitter=None):
    """One sentence of `words`, a word every gap seconds; jitter moves each word's start."""
    t, sentence_words = 0.2, []
    for k, (word, gap) in enumerate(zip(words, gaps)):
        start = max(0.0, t + (jitter[k] if jitter else 0.0))
        sentence_words.append(samples.TruthWord(word, start, start + gap * 0.8))
        t += gap
    return [
        samples.TruthSentence(" ".join(words), sentence_words[0].start, sentence_words[-1].end, tuple(sentence_words))
    ]


@FUZZ_SHAPES
@given(
    words=st.lists(st.from_regex(r"[a-z]{1,9}", fullmatch=True), min_size=2, max_size=40),
    gaps=st.lists(st.floats(0.05, 1.0), min_size=40, max_size=40),
    jitter=st.lists(st.floats(-0.08, 0.08), min_size=40, max_size=40),
)
def test_automatic_captions_with_word_time_jitter_keep_every_word(words, gaps, jitter):
    """Recognizer timing jitter (a word timed up to 80 ms off, so before the word it follows):
    every word is kept once, starts stay in order and within the jitter of the truth."""
    truth = _truth(words, gaps)
    jittered = _truth(words, gaps, jitter)
    files = (("jit.vtt", samples.auto_vtt(jittered)), ("jit.json3", samples.auto_json3(jittered)))
    for name, content in files:
        transcript = parse_bytes(content.encode(), name)
        assert [w.text for w in transcript.words] == words
        for got, want in zip(transcript.words, truth[0].words):
            assert abs(got.start - want.start) <= 0.08 + 0.0011


@FUZZ_SHAPES
@given(
    cues=st.lists(
        st.tuples(
            st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=1, max_size=6),
            st.floats(0.0, 3.0),  # seconds after the previous cue's start (0: shown together)
            st.floats(0.2, 6.0),  # how long it stays on screen (often past the next cues' starts)
        ),
        min_size=1,
        max_size=15,
    ),
    fmt=st.sampled_from(["srt", "vtt"]),
)
def test_overlapping_and_simultaneous_uploaded_cues_keep_every_word(cues, fmt):
    """Cues that overlap (a cue kept on screen while others come) are concurrent: every word kept
    once, each within its own cue's time, the words ordered by start and each cue's words in their
    order. Cues that start together (styled subtitles at several positions) are shown as one."""

    def stamp(t):
        h, rest = divmod(round(t * 1000), 3_600_000)
        m, rest = divmod(rest, 60_000)
        return f"{h:02d}:{m:02d}:{rest // 1000:02d}{',' if fmt == 'srt' else '.'}{rest % 1000:03d}"

    t, blocks, times = 1.0, [], {}
    for k, (words, after, length) in enumerate(cues, 1):
        t += after if k > 1 else 0.0
        named = [f"{w}{k}Z{j}" for j, w in enumerate(words)]  # which cue, which place
        times.update((w, (round(t, 3), round(t + length, 3))) for w in named)
        blocks.append(f"{k}\n{stamp(t)} --> {stamp(t + length)}\n{' '.join(named)}\n")
    text = ("WEBVTT\n\n" if fmt == "vtt" else "") + "\n".join(blocks)
    transcript = parse_bytes(text.encode(), f"overlap.{fmt}")
    got = [w.text for w in transcript.words]
    assert sorted(got) == sorted(times)
    cue_of = {w: int(re.search(r"(\d+)Z\d+$", w).group(1)) for w in got}
    for k, (words, _, _) in enumerate(cues, 1):
        assert [w for w in got if cue_of[w] == k] == [f"{w}{k}Z{j}" for j, w in enumerate(words)]
    latest = max(end for _, end in times.values())
    for w in transcript.words:
        start, _ = times[w.text]
        assert start - 0.05 - 1e-6 <= w.start <= latest + 1e-6
    assert all(a.start <= b.start for a, b in zip(transcript.words, transcript.words[1:]))
