"""Gradient accumulation with whole-batch negatives (GradCache): a step of 8 x 4 accumulated
micro-batches vs one batch of 32, on the trainer's own step functions (train.fit). Synthetic inputs,
random init, the VidLA objective.

    python benchmarks/bench_accumulation.py     # CPU quick mode: ViT-B/32 towers, 1 layer, 4 frames of 96x96
    python benchmarks/bench_accumulation.py --preset vidla-b16 --layers 12 --frames 12 --image-size 224  # GPU

Both give the same loss and gradients (tests/train/test_accumulation.py); GradCache runs every
micro-batch's towers twice (once without gradients) and holds one micro-batch's activations at a time.
Peak memory above what exists before the step (see bench_attention.py: CUDA max_memory_allocated,
CPU the peak resident set of a fresh subprocess); time: fastest of --repeats steps, interleaved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from bench_attention import run_all  # noqa: E402

from train.config import TrainConfig  # noqa: E402
from train.families.vidla.objectives import VIDEO_TEXT  # noqa: E402
from train.fit import TrainStep, accumulate_contrastive, accumulate_per_micro_batch  # noqa: E402
from train.model import PRESETS, build_model  # noqa: E402
from train.objectives import ObjectiveContext  # noqa: E402

CASES = {"batch32": (accumulate_per_micro_batch, 1), "accum8x4": (accumulate_contrastive, 4)}
WEIGHTS = {"subtitle": 1.0, "caption": 1.0}


def make_step(case: str, args):
    """A function running one optimizer step of ``case`` on a fixed synthetic batch of 32."""
    device = torch.device(args.device)
    mcfg = PRESETS[args.preset]().replace(
        vision_layers=args.layers, text_layers=args.layers, num_frames=args.frames, image_size=args.image_size
    )
    torch.manual_seed(0)
    model = build_model(mcfg).to(device).train()
    step = TrainStep(model, {"video_text": VIDEO_TEXT})
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    precision = "bf16" if device.type == "cuda" else "fp32"
    ctx = ObjectiveContext(0, 1, 0, device, TrainConfig(precision=precision), mcfg)
    B, S = 32, mcfg.image_size
    batch = {
        "frames_BTCHW": torch.randint(0, 256, (B, mcfg.num_frames, 3, S, S), dtype=torch.uint8, device=device),
        "has_subtitle": torch.ones(B, dtype=torch.bool, device=device),
        "has_caption": torch.ones(B, dtype=torch.bool, device=device),
    }
    for name in ("subtitle", "caption"):
        batch[f"{name}_ids"] = torch.randint(1, mcfg.vocab_size, (B, mcfg.context_length), device=device)
        mask = torch.ones_like(batch[f"{name}_ids"])
        mask[:, 40:] = 0  # texts of 40 tokens, padded to 77
        batch[f"{name}_mask"] = mask
    accumulate, parts = CASES[case]
    size = B // parts
    micro = [{k: v[i * size : (i + 1) * size] for k, v in batch.items()} for i in range(parts)]

    def run():
        accumulate(step, step.objectives, micro, ctx, WEIGHTS)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--preset", default="vidla-b16" if cuda else "vidla-b32", choices=["vidla-b32", "vidla-b16"])
    parser.add_argument("--layers", type=int, default=12 if cuda else 1, help="layers of each tower")
    parser.add_argument("--frames", type=int, default=12 if cuda else 4)
    parser.add_argument("--image-size", type=int, default=224 if cuda else 96)
    parser.add_argument("--repeats", type=int, default=5 if cuda else 2)
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.make_step = make_step
    args.child_argv = [
        "--device",
        args.device,
        "--preset",
        args.preset,
        "--layers",
        str(args.layers),
        "--frames",
        str(args.frames),
        "--image-size",
        str(args.image_size),
    ]
    if not args.child:
        print(
            f"# accumulated 8 x 4 (GradCache) vs one batch of 32, {args.device}, {args.preset} towers with "
            f"{args.layers} layers each, {args.frames} frames of {args.image_size}px, "
            f"best of {args.repeats} interleaved",
            flush=True,
        )
    results = run_all(list(CASES), args, __file__)
    for case, r in results.items():
        print(f"{case:9s} {r['seconds'] * 1e3:9.1f} ms/step  peak {r['peak_bytes'] / 2**20:9.1f} MiB")
    if len(results) == 2:
        acc, one = results["accum8x4"], results["batch32"]
        print(
            f"accumulated 8x4 / batch 32: step time {acc['seconds'] / one['seconds']:.2f}x   "
            f"peak memory {acc['peak_bytes'] / one['peak_bytes']:.2f}x"
        )


if __name__ == "__main__":
    main()
