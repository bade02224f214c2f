"""Memory/speed trade-off of the long-video recipe (seed 003, figures 2, 3 and 5): peak memory and time of
one contrastive training step at 16, 64 and 128 frames with 0, 50 and 75 % random input masking, as
ratios against the 16-frame unmasked step measured in the same run. Synthetic inputs, random init.

    python benchmarks/bench_longvideo.py                 # CPU: longvideo-tiny-cpu towers, 96x96 frames
    python benchmarks/bench_longvideo.py --quick         # the same in about a minute (fewer repeats)
    python benchmarks/bench_longvideo.py --preset longvideo-b16-short --batch 8 --grad-checkpointing  # GPU, bf16

A step = encode the frames (2x16x16 tubelets, joint space-time attention over the kept tokens, mean
pooling) + a subtitle and a caption (77 tokens), the two named info-NCE losses, backward, AdamW step.
Peak memory is measured above what exists just before the step, as bench_train_step.py does (CUDA:
allocator, second step; CPU: peak resident set of a fresh subprocess, first step). Time: fastest of
--repeats steps, cases interleaved.
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
from train.families.longvideo import MODEL_PRESETS, build_model  # noqa: E402
from train.families.vidla.objectives import VIDEO_TEXT  # noqa: E402
from train.objectives import ObjectiveContext  # noqa: E402

FRAMES = (16, 64, 128)
MASKS = (0, 50, 75)
CASES = [f"f{frames}-m{mask}" for frames in FRAMES for mask in MASKS]
BASELINE = "f16-m0"


def make_step(case: str, args):
    """Model, optimizer and synthetic batch for `case` ("f<frames>-m<mask %>"); returns one training step."""
    frames_text, mask_text = case.split("-")
    num_frames, mask_ratio = int(frames_text[1:]), int(mask_text[1:]) / 100
    device = torch.device(args.device)
    changes = dict(num_frames=num_frames, mask_ratio=mask_ratio, grad_checkpointing=args.grad_checkpointing)
    if args.image_size:
        changes["image_size"] = args.image_size
    if args.vocab_size:
        changes["vocab_size"] = args.vocab_size
    if args.layers:
        changes.update(vision_layers=args.layers, text_layers=args.layers)
    cfg = MODEL_PRESETS[args.preset]().replace(**changes)
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.02, fused=device.type == "cuda")
    B, S, L = args.batch, cfg.image_size, cfg.context_length
    mask = torch.ones(B, L, dtype=torch.long, device=device)
    mask[:, 40:] = 0  # texts of 40 tokens, padded to 77
    batch = {
        "frames_BTCHW": torch.randint(0, 256, (B, num_frames, 3, S, S), dtype=torch.uint8, device=device),
        "subtitle_ids": torch.randint(0, cfg.vocab_size, (B, L), device=device),
        "subtitle_mask": mask,
        "caption_ids": torch.randint(0, cfg.vocab_size, (B, L), device=device),
        "caption_mask": mask,
        "has_subtitle": torch.ones(B, dtype=torch.bool, device=device),
        "has_caption": torch.ones(B, dtype=torch.bool, device=device),
    }
    precision = "bf16" if device.type == "cuda" else "fp32"  # bf16 autocast on CUDA, as training runs
    ctx = ObjectiveContext(0, 1, 0, device, TrainConfig(model=args.preset, precision=precision), cfg)

    def step():
        losses = VIDEO_TEXT(model, batch, ctx)  # the family's objective: named subtitle + caption InfoNCE
        sum(losses.values()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument(
        "--preset", default="longvideo-b16-short" if cuda else "longvideo-tiny-cpu", choices=sorted(MODEL_PRESETS)
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None if cuda else 96,
        help="frame side (default: the preset's on CUDA, 96 on CPU: 36 tokens per tubelet step)",
    )
    parser.add_argument("--layers", type=int, default=None, help="layers of each tower (default: the preset's)")
    parser.add_argument(
        "--vocab-size",
        type=int,
        default=None if cuda else 1000,
        help="text vocabulary (default: the preset's on CUDA; 1000 on CPU, so that the tiny "
        "towers' memory is the video's, not CLIP's 49k-token embedding and its AdamW state)",
    )
    parser.add_argument("--batch", type=int, default=8 if cuda else 4)
    parser.add_argument("--repeats", type=int, default=5 if cuda else 3)
    parser.add_argument("--quick", action="store_true", help="one timed repeat (about a minute on 2 CPU cores)")
    parser.add_argument("--grad-checkpointing", action="store_true")
    parser.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    args.make_step = make_step
    args.child_argv = (
        ["--device", args.device, "--preset", args.preset, "--batch", str(args.batch)]
        + (["--image-size", str(args.image_size)] if args.image_size else [])
        + (["--layers", str(args.layers)] if args.layers else [])
        + (["--vocab-size", str(args.vocab_size)] if args.vocab_size else [])
        + (["--grad-checkpointing"] if args.grad_checkpointing else [])
    )
    if not args.child:
        cfg = MODEL_PRESETS[args.preset]()
        size = args.image_size or cfg.image_size
        print(
            f"# long-video contrastive step, {args.device}{' bf16 autocast' if args.device == 'cuda' else ' fp32'}, "
            f"{args.preset} ({args.layers or cfg.vision_layers} layers), {size}x{size} frames in "
            f"{cfg.tubelet_frames}x{cfg.patch_size}x{cfg.patch_size} tubelets, batch {args.batch}, "
            f"grad checkpointing {'on' if args.grad_checkpointing else 'off'}, best of {args.repeats} interleaved",
            flush=True,
        )
    results = run_all(CASES, args, __file__)
    base = results.get(BASELINE)
    size = args.image_size or MODEL_PRESETS[args.preset]().image_size
    per_step = (size // MODEL_PRESETS[args.preset]().patch_size) ** 2
    print(
        f"{'frames':>6s} {'mask':>5s} {'tokens':>7s} {'ms/step':>9s} {'peak MiB':>9s} {'time x':>7s} {'memory x':>9s}"
    )
    for case, r in results.items():
        frames, mask = int(case.split("-")[0][1:]), int(case.split("-")[1][1:])
        tokens = max(1, round(frames // 2 * per_step * (1 - mask / 100)))
        ratios = (
            f"{r['seconds'] / base['seconds']:7.2f} {r['peak_bytes'] / base['peak_bytes']:9.2f}"
            if base
            else "      -         -"
        )
        print(f"{frames:6d} {mask:4d}% {tokens:7d} {r['seconds'] * 1e3:9.1f} {r['peak_bytes'] / 2**20:9.1f} {ratios}")
    print(f"(ratios against {BASELINE}: 16 frames, no masking)")


if __name__ == "__main__":
    main()
