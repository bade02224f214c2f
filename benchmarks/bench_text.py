"""Text path speed: parse + sentences + align + plan for a 10-minute video's automatic captions,
and our banded DTW against dtw-python on the same token sequences.

    python benchmarks/bench_text.py [--minutes 10] [--seconds-per-figure 5 | --quick]

The captions come from samplemedia (espeak-ng speech of generated sentences, written as YouTube
rolling WebVTT). The punctuation model's own inference is excluded: a stand-in returns the true
sentences (what a perfect model would), so the path still does the DTW alignment. Everything runs
in this one process on one core (rates are per CPU-second); the baselines are measured in the same run.
With ../shared/realsubs there, the parse rate over its real subtitle files is printed too.
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
from curate.text import parse_subtitle_file, transcript_to_clips, vidla_recipe  # noqa: E402
from curate.text.align import (  # noqa: E402
    band_width,
    banded_dtw,
    sentence_tokens,
    sentences_from_path,
    token_ids,
    word_tokens,
)


class StandIn:
    """Returns the known sentences: the punctuation model with its inference cost taken out."""

    segmenter = "punctuators:stand-in"

    def __init__(self, texts):
        self.texts = list(texts)

    def sentences(self, text):
        return self.texts


def rate(fn, seconds: float) -> float:
    """Calls per CPU-second of this process (= per core: everything here is single-threaded), over
    about `seconds`; CPU time, so that other work on the machine does not count."""
    fn()
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        fn()
        n += 1
    return n / (time.process_time() - start)


def dtw_python_path(a_ids, b_ids):
    import dtw

    cost = (a_ids[:, None] != b_ids[None, :]).astype(np.float64)
    result = dtw.dtw(cost, step_pattern="symmetric2")
    return result.index1, result.index2


CORPUS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "realsubs", "files")


def real_corpus(generated_mb_per_s: float, seconds: float) -> None:
    """Parse rate over the real subtitle files (../shared/realsubs, when it is there), in MB of
    subtitle text per CPU-second, against the generated captions' rate above."""
    from curate.text import TranscriptError

    if not os.path.isdir(CORPUS):
        print(f"real subtitle corpus: not there ({CORPUS}), skipped")
        return
    usable, failed = [], 0
    for name in sorted(os.listdir(CORPUS)):
        try:
            usable.append((os.path.join(CORPUS, name), parse_subtitle_file(os.path.join(CORPUS, name), name)))
        except TranscriptError:
            failed += 1
    megabytes = sum(os.path.getsize(p) for p, _ in usable) / 1e6
    words = sum(len(t.words) for _, t in usable)
    repaired = sum(1 for _, t in usable if t.repairs)
    per_second = rate(lambda: [parse_subtitle_file(p, "bench") for p, _ in usable], seconds)
    real_mb_per_s = per_second * megabytes
    print(
        f"real subtitle corpus: {len(usable)} files parsed ({failed} not usable, as expected), "
        f"{megabytes:.1f} MB, {words} words, {repaired} files repaired: {real_mb_per_s:.1f} MB/s "
        f"({real_mb_per_s / generated_mb_per_s:.2f}x the generated captions' {generated_mb_per_s:.1f} MB/s)"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds-per-figure", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1 s per figure (about 30 s in all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds_per_figure = 1.0

    sentences = samples.sentences_for(args.minutes * 60, seed=11)
    _, truth = samples.synthesize_speech(sentences)
    duration = truth[-1].end + 1.0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.en.vtt")
        with open(path, "w", encoding="utf-8") as f:
            f.write(samples.auto_vtt(truth))
        transcript = parse_subtitle_file(path, "bench")
        stand_in = StandIn(s.text for s in truth)
        recipe = vidla_recipe()
        print(
            f"video: {duration / 60:.1f} min, {len(truth)} sentences, {len(transcript.words)} caption words, "
            f"{os.path.getsize(path) / 1e3:.0f} kB of WebVTT; machine load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores"
        )

        # -- DTW: ours vs dtw-python on the same token sequences -----------------------------
        texts = [s.text for s in truth]
        tokens, owner = sentence_tokens(texts)
        a_ids, b_ids = token_ids(tokens, word_tokens(transcript.words))
        band = band_width(len(a_ids), len(b_ids))
        ours = banded_dtw(a_ids, b_ids, band)
        theirs = dtw_python_path(a_ids, b_ids)
        same_path = np.array_equal(ours[0], theirs[0]) and np.array_equal(ours[1], theirs[1])
        ours_sentences = sentences_from_path(texts, owner, transcript.words, *ours, "x")
        theirs_sentences = sentences_from_path(texts, owner, transcript.words, *theirs, "x")
        assert same_path, "banded DTW path differs from dtw-python's"
        assert ours_sentences == theirs_sentences, "sentence times differ from dtw-python's"
        ours_rate = rate(lambda: banded_dtw(a_ids, b_ids, band), args.seconds_per_figure)
        theirs_rate = rate(lambda: dtw_python_path(a_ids, b_ids), args.seconds_per_figure)
        print(
            f"DTW {len(a_ids)} x {len(b_ids)} tokens (band +-{band}): identical path and identical "
            f"{len(ours_sentences)} sentence times as dtw-python (full matrix, symmetric2)"
        )
        print(
            f"  banded DTW {1e3 / ours_rate:.2f} ms, dtw-python {1e3 / theirs_rate:.1f} ms: "
            f"ratio {ours_rate / theirs_rate:.0f}x faster"
        )

        # -- the whole text path ---------------------------------------------------------------
        def text_path(punctuator):
            t = parse_subtitle_file(path, "bench")
            return transcript_to_clips(t, duration, recipe, punctuator)

        def text_path_with_dtw_python():
            t = parse_subtitle_file(path, "bench")
            tok, own = sentence_tokens(stand_in.texts)
            a, b = token_ids(tok, word_tokens(t.words))
            from curate.text.clips import plan_clips

            timed = sentences_from_path(stand_in.texts, own, t.words, *dtw_python_path(a, b), stand_in.segmenter)
            return timed, plan_clips("bench", timed, duration, recipe)

        assert text_path(stand_in) == text_path_with_dtw_python()
        with_model = rate(lambda: text_path(stand_in), args.seconds_per_figure)
        fallback = rate(lambda: text_path(None), args.seconds_per_figure)
        baseline = rate(text_path_with_dtw_python, args.seconds_per_figure)
        parse_only = rate(lambda: parse_subtitle_file(path, "bench"), args.seconds_per_figure)
        print("text path per 10-minute video on one core (videos/s):")
        print(
            f"  parse + punctuated sentences + banded DTW + plan: {with_model:7.1f}  "
            f"({with_model / 200:.2f}x the 200/s target; {with_model / baseline:.1f}x the same path "
            f"with dtw-python, {baseline:.1f}/s)"
        )
        label = "parse + pause-fallback sentences + plan:"
        print(f"  {label:48s}  {fallback:7.1f}  ({fallback / 200:.2f}x target)")
        print(f"  parse alone:                                      {parse_only:7.1f}")
        real_corpus(parse_only * os.path.getsize(path) / 1e6, args.seconds_per_figure)
        started = time.process_time()
        sum(range(10**7))
        print(f"machine speed reference: sum(range(10**7)) took {time.process_time() - started:.3f} CPU-s here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
