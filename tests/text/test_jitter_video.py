"""A generated video whose automatic captions carry recognizer timing jitter (every word start
moved by up to +-80 ms, so some words start before the word they follow) is clipped, not dropped,
and the repairs are recorded on its clips."""

import random

import samplemedia as samples
from curate.text import hdvila_recipe, parse_subtitle_file, transcript_to_clips
from curate.text.words import normalize_token
from schemas import VideoMeta


def jittered(truth, seconds, seed):
    """Every word start moved by `seconds`, earlier or later at random."""
    rng = random.Random(seed)
    return [
        s._replace(words=tuple(w._replace(start=max(0.0, w.start + rng.choice((-seconds, seconds)))) for w in s.words))
        for s in truth
    ]


def test_video_with_jittered_automatic_captions_is_clipped_not_dropped(sample_video, tmp_path):
    import json

    truth_doc = json.loads(open(sample_video.truth_path, encoding="utf-8").read())
    truth = [
        samples.TruthSentence(s["text"], s["start"], s["end"], tuple(samples.TruthWord(**w) for w in s["words"]))
        for s in truth_doc["sentences"]
    ]

    def out_of_order(sentences):
        starts = [w.start for s in sentences for w in s.words]
        return any(b < a for a, b in zip(starts, starts[1:]))

    # the first seed whose jitter puts some word before the one it follows (the case that used to
    # drop the video)
    noisy = next(n for n in (jittered(truth, 0.08, seed) for seed in range(100)) if out_of_order(n))
    path = tmp_path / f"{sample_video.video_id}.en.vtt"
    path.write_text(samples.auto_vtt(noisy), encoding="utf-8")

    transcript = parse_subtitle_file(str(path), sample_video.video_id)
    repairs = dict(transcript.repairs)
    assert repairs["word_start_clamped"] >= 1 and set(repairs) == {"word_start_clamped"}
    true_words = [w for s in truth for w in s.words]
    assert [normalize_token(w.text) for w in transcript.words] == [normalize_token(w.text) for w in true_words]
    assert all(abs(got.start - want.start) <= 0.081 for got, want in zip(transcript.words, true_words))

    sentences, spans = transcript_to_clips(transcript, sample_video.duration, hdvila_recipe())
    assert spans and sentences
    clipped = [normalize_token(w) for span in spans for w in span.subtitle.split()]
    assert clipped == [normalize_token(w.text) for w in true_words]  # every word in a clip

    # the plan stage's clip records carry the repairs (clips.parquet, stats.json, report.md)
    from curate.text.transcripts import plan_video_clips

    meta = VideoMeta(sample_video.video_id, str(path), duration=sample_video.duration, height=720)
    _, clips = plan_video_clips((meta, transcript), None, recipe=hdvila_recipe(), use_given_spans=False)
    assert clips and all(c.transcript_repairs == transcript.repairs for c in clips)
