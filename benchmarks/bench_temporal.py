"""Does the temporal attention learn time? Tiny VidLA vs tiny meanP on clips whose text depends only on
the direction of motion (VidLA section 4; issue 10 item 10).

    python benchmarks/bench_temporal.py --quick          # ~5 min on 2 cores
    python benchmarks/bench_temporal.py                  # more videos and steps

1. Generates yt-dlp style folders (``curate.samples.make_sample_video`` for speech, subtitles and
   metadata; the picture replaced by an ffmpeg render): in each video a square of a random size, colour
   and column crosses the frame up or down, and the subtitle says so ("... The square moves up."). A
   "down" video is the time-reversal of an "up" one, so the set of frames is the same for both: only
   their order tells the direction.
2. Curates a training and a held-out folder with ``python -m curate run --recipe hdvila``.
3. Trains tiny VidLA and tiny meanP (``python -m train fit --config tiny-cpu``; meanP = the same preset
   with frame-wise CLIP pooling) with the same data, steps and seed.
4. Reports, on the held-out clips, how often each model ranks the true text above the same text with
   the other direction ("direction accuracy"; chance = 50 %; meanP cannot see frame order).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

DIRECTIONS = ("up", "down")
COLOURS = {"red": "0xE02020", "green": "0x20C040", "blue": "0x3060F0", "yellow": "0xE0D020", "white": "0xF0F0F0"}
SIZES = {"small": 0.2, "big": 0.32}  # square side as a fraction of the frame height
WIDTH, HEIGHT, FPS = 160, 120, 12

MEANP = ["model.pooling=meanp", "model.use_mst=false", "model.use_local_temporal=false"]


def direction_text(size: str, colour: str, direction: str) -> str:
    """The subtitle of a video: only the last word depends on the motion."""
    return f"Here is a {size} {colour} square. Watch it closely. The square moves {direction}."


def flip_direction(text: str) -> str:
    """The same text with the other direction (curated subtitles may have lost case and punctuation)."""
    flipped, count = re.subn(r"\bmoves (up|down)\b", lambda m: "moves " + ("down" if m[1] == "up" else "up"), text)
    if count != 1:
        raise ValueError(f"expected one direction in {text!r}")
    return flipped


def render_motion(path: str, seconds: float, colour: str, side: int, x: int, y_from: int, y_to: int) -> None:
    """An H.264 clip of a square moving linearly from row y_from to y_to over the whole clip."""
    fg = f"color=c={COLOURS[colour]}:s={side}x{side}:r={FPS}:d={seconds:.3f}"
    bg = f"color=c=0x303030:s={WIDTH}x{HEIGHT}:r={FPS}:d={seconds:.3f}"
    y = f"{y_from}+({y_to - y_from})*t/{seconds:.3f}"
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", bg, "-f", "lavfi", "-i", fg,
           "-filter_complex", f"[0][1]overlay=x={x}:y='{y}':eval=frame,format=yuv420p",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS * 2), "-t", f"{seconds:.3f}", path]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ffmpeg failed writing {path}: {done.stderr[-1000:]}")


def make_direction_folder(folder: Path, num_videos: int, seed: int) -> list:
    """``num_videos`` videos, half moving up and half down; returns their (id, text, direction)."""
    from curate.samples import make_sample_video

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(num_videos):
        direction = DIRECTIONS[i % 2]
        size, colour = rng.choice(list(SIZES)), rng.choice(list(COLOURS))
        text = direction_text(size, colour, direction)
        video_id = f"dir{seed:02d}v{i:03d}"
        sample = make_sample_video(folder, video_id, [text], width=WIDTH, height=HEIGHT, fps=FPS,
                                   audio=False, pause=0.3, lead_in=0.2, title=f"motion {i}")
        side = round(SIZES[size] * HEIGHT)
        low, high = 0, HEIGHT - side  # rows of the top edge: high = bottom of the frame
        travel = rng.uniform(0.6, 1.0) * (high - low)
        start = rng.uniform(low + travel, high)  # where an upward path starts
        y_from, y_to = (start, start - travel) if direction == "up" else (start - travel, start)
        x = rng.randrange(0, WIDTH - side)
        render_motion(sample.media_path, sample.duration, colour, side, x, round(y_from), round(y_to))
        made.append((video_id, text, direction))
    return made


def curate(folder: Path, out: Path) -> None:
    cmd = [sys.executable, "-m", "curate", "run", "--recipe", "hdvila", "--input", str(folder),
           "--output", str(out), "--min-height", str(HEIGHT), "--min-duration", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"curation failed: {done.stderr[-3000:]}")


def train(shards: Path, run: Path, steps: int, batch: int, extra: list) -> None:
    from train.__main__ import main

    argv = ["fit", "--config", "tiny-cpu", "--shards", str(shards), "--output", str(run), "--steps",
            str(steps), "--batch-size", str(batch), "--no-progress", f"checkpoint_every={steps}",
            f"log_every={max(1, steps // 10)}", *extra]
    if main(argv) != 0:
        raise RuntimeError(f"training {run.name} failed")


def direction_accuracy(run: Path, shards: Path) -> dict:
    """Percent of held-out clips whose true text scores above the flipped one, and t2v R@1."""
    import torch

    from train.data.shards import expand_shards, make_loader
    from train.eval import embed_texts, embed_videos, load_eval_model
    from train.metrics import retrieval_metrics

    em = load_eval_model(str(run), device="cpu")
    cfg = em.loader_config(batch_size=32)
    videos, texts = [], []
    for batch in make_loader(expand_shards(str(shards)), cfg):
        videos.append(embed_videos(em, batch))
        texts += batch["subtitle"]
    video_BD = torch.cat(videos)
    true_BD, flipped_BD = embed_texts(em, texts), embed_texts(em, [flip_direction(t) for t in texts])
    margin_B = (video_BD * true_BD).sum(-1) - (video_BD * flipped_BD).sum(-1)
    retrieval = retrieval_metrics(true_BD @ video_BD.T, torch.arange(len(texts)))
    return {"direction_accuracy": 100.0 * float((margin_B > 0).double().mean()),
            "t2v_R@1": retrieval["t2v"]["R@1"], "num_clips": len(texts)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer videos and steps (~5 min on 2 cores)")
    parser.add_argument("--workdir", default="/tmp/bench_temporal", help="videos, shards and runs go here")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-videos", type=int, default=None)
    parser.add_argument("--test-videos", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="TrainConfig overrides for both runs (field=value)")
    args = parser.parse_args(argv)
    steps = args.steps or (150 if args.quick else 400)
    num_train = args.train_videos or (64 if args.quick else 160)
    num_test = args.test_videos or (32 if args.quick else 64)
    work = Path(args.workdir)
    timings = {}

    started = time.perf_counter()
    data = {}
    for split, count, seed in (("train", num_train, 1 + args.seed), ("test", num_test, 50 + args.seed)):
        data[split] = work / f"{split}-shards-{count}-{seed}"
        if not (data[split] / "clips.parquet").exists():  # the data are reused across runs
            make_direction_folder(work / f"{split}-videos-{count}-{seed}", count, seed)
            curate(work / f"{split}-videos-{count}-{seed}", data[split])
    timings["data_s"] = time.perf_counter() - started

    results = {}
    for name, extra in (("vidla", []), ("meanp", MEANP)):
        run = work / f"run-{name}-{steps}-{args.seed}"
        started = time.perf_counter()
        shutil.rmtree(run, ignore_errors=True)
        train(data["train"], run, steps, args.batch_size, [f"seed={args.seed}", *extra, *args.overrides])
        timings[f"train_{name}_s"] = time.perf_counter() - started
        results[name] = direction_accuracy(run, data["test"])
    report = {"steps": steps, "batch_size": args.batch_size, "train_videos": num_train, **results,
              "vidla_over_meanp": results["vidla"]["direction_accuracy"] / results["meanp"]["direction_accuracy"],
              "seconds": {k: round(v, 1) for k, v in timings.items()}}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
