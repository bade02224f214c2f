"""A VidLA training step vs the CLIP4Clip meanP baseline at equal frames and batch, and peak memory with
0 / 50 / 75 % tube masking. Synthetic inputs, random init.

    python benchmarks/bench_train_step.py                  # CPU: ViT-B/32 towers cut to 4 layers, batch 2
    python benchmarks/bench_train_step.py --preset vidla-b16 --layers 12 --batch 32   # GPU, bf16 autocast

A step = encode 12 frames + subtitle + caption (77 tokens), VidLA equation 3 loss, backward, AdamW step.
Peak memory is measured above what exists just before the step: on CUDA with
torch.cuda.max_memory_allocated (the second step, so AdamW's state exists already), on CPU as the peak
resident set of a fresh subprocess (first step, so AdamW's state is included). Time: fastest of
--repeats steps, cases interleaved (see bench_attention.py).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from bench_attention import run_all  # noqa: E402

from train.families.vidla.objectives import vidla_loss  # noqa: E402
from train.model import PRESETS, build_model  # noqa: E402

CASES = {  # name -> ModelConfig changes on top of the chosen VidLA preset
    "vidla": {},
    "meanp": dict(pooling="meanp", use_mst=False, use_local_temporal=False),
    "vidla-tube50": dict(tube_mask_ratio=0.5),
    "vidla-tube75": dict(tube_mask_ratio=0.75),
}


def make_step(case: str, args):
    """Model, optimizer and synthetic batch for `case`; returns a function running one training step."""
    device = torch.device(args.device)
    cfg = PRESETS[args.preset]().replace(
        vision_layers=args.layers, text_layers=args.layers, grad_checkpointing=args.grad_checkpointing, **CASES[case]
    )
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    if args.compile:
        model.encode_video = torch.compile(model.encode_video)
        model.encode_text = torch.compile(model.encode_text)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.02, fused=device.type == "cuda")
    B, T, S = args.batch, cfg.num_frames, cfg.image_size
    frames = torch.randn(B, T, 3, S, S, device=device)
    ids = torch.randint(0, cfg.vocab_size, (2 * B, cfg.context_length), device=device)
    mask = torch.ones_like(ids)
    mask[:, 40:] = 0  # texts of 40 tokens, padded to 77
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    def step():
        with autocast:
            video = model.encode_video(frames)
            subtitle, caption = model.encode_text(ids, mask).chunk(2)
        loss = vidla_loss(video.float(), subtitle.float(), caption.float(), model.logit_scale)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--preset", default="vidla-b16" if cuda else "vidla-b32", choices=["vidla-b32", "vidla-b16"])
    parser.add_argument("--layers", type=int, default=12 if cuda else 4, help="layers of each tower")
    parser.add_argument("--batch", type=int, default=32 if cuda else 2)
    parser.add_argument("--repeats", type=int, default=5 if cuda else 3)
    parser.add_argument("--grad-checkpointing", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile both towers")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ",".join(CASES))
    parser.add_argument("--child", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.make_step = make_step
    args.child_argv = (
        ["--device", args.device, "--preset", args.preset, "--layers", str(args.layers), "--batch", str(args.batch)]
        + (["--grad-checkpointing"] if args.grad_checkpointing else [])
        + (["--compile"] if args.compile else [])
    )
    cases = args.cases.split(",")
    if not args.child:
        print(
            f"# training step, {args.device}{' bf16 autocast' if args.device == 'cuda' else ' fp32'}, "
            f"{args.preset} towers with {args.layers} layers each, batch {args.batch}, 12 frames 224x224, "
            f"grad checkpointing {'on' if args.grad_checkpointing else 'off'}, "
            f"torch.compile {'on' if args.compile else 'off'}, best of {args.repeats} interleaved",
            flush=True,
        )
    results = run_all(cases, args, __file__)
    for case, r in results.items():
        print(
            f"{case:13s} {r['seconds'] * 1e3:9.1f} ms/step  {args.batch / r['seconds']:8.2f} clips/s  "
            f"peak {r['peak_bytes'] / 2**20:9.1f} MiB"
        )
    if {"vidla", "meanp"} <= results.keys():
        vidla, meanp = results["vidla"], results["meanp"]
        print(
            f"VidLA / meanP step time: {vidla['seconds'] / meanp['seconds']:.2f}x   "
            f"peak memory: {vidla['peak_bytes'] / meanp['peak_bytes']:.2f}x"
        )
    for ratio in ("50", "75"):
        if f"vidla-tube{ratio}" in results and "vidla" in results:
            masked, full = results[f"vidla-tube{ratio}"], results["vidla"]
            print(
                f"tube masking {ratio}% / 0%: peak memory {masked['peak_bytes'] / full['peak_bytes']:.2f}x   "
                f"step time {masked['seconds'] / full['seconds']:.2f}x"
            )


if __name__ == "__main__":
    main()
