"""VQ tokenizers and the VIMPAC / E-ViLM training steps, on synthetic inputs, random init.

    python benchmarks/bench_vq.py --quick     # under 2 minutes on one CPU core
    python benchmarks/bench_vq.py             # more repeats, full-size tokenizers on more frames
    python benchmarks/bench_vq.py --device cuda --batch 32    # on a GPU (fp32)

1. Tokens per second of each tokenizer (codes produced per second, frames at the paper's sizes):
   DALL-E's dVAE encoder (VIMPAC; 128^2 frames, 16 x 16 codes each) full size and tiny, and E-ViLM's
   semantic tokenizer (256^2 frames, 8 x 8 codes each) paper size and tiny. Ratios against the full dVAE.
2. On the fly vs precomputed codes: a vimpac-tiny training step that tokenizes its frames, vs the same
   step fed codes computed once beforehand; and the full dVAE's cost per clip against a VIMPAC-small step.
3. Training clips/s of each tiny preset's step (forward, backward, AdamW) vs VidLA's tiny preset,
   same batch size, same run.
4. With --fit: the same through `python -m train fit` on generated shards (loader included: VIMPAC
   decodes two windows per clip, E-ViLM draws its masks in the loader), median clips/s of the logged
   steps after the first.

Time: the fastest of --repeats runs, after one warm-up.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.families.evilm.config import evilm_tiny, tokenizer_paper, tokenizer_tiny  # noqa: E402
from train.families.evilm.model import Evilm  # noqa: E402
from train.families.evilm.objectives import pretrain_losses, tokenizer_losses  # noqa: E402
from train.families.evilm.tokenizer import SemanticVQTokenizer  # noqa: E402
from train.families.vimpac.config import vimpac_small, vimpac_tiny  # noqa: E402
from train.families.vimpac.loss import clip_contrastive_loss  # noqa: E402
from train.families.vimpac.model import Vimpac  # noqa: E402
from train.vq import DalleEncoder, DalleTokenizer  # noqa: E402

DEVICE = torch.device("cpu")


def best_seconds(fn, repeats: int) -> float:
    def timed():
        start = time.perf_counter()
        fn()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    timed()  # warm-up
    return min(timed() for _ in range(repeats))


def tokenizer_throughput(args) -> dict:
    frames = 1 if args.quick else (5 if DEVICE.type == "cpu" else 5 * 32)
    cases = {
        "dalle-full": (DalleTokenizer(DalleEncoder(256, 2, 8192)), 128),
        "dalle-tiny": (DalleTokenizer(DalleEncoder(16, 1, 8192)), 128),
        "semantic-paper": (SemanticVQTokenizer(tokenizer_paper(), with_decoder=False).eval(), 256),
        "semantic-tiny": (SemanticVQTokenizer(tokenizer_tiny(), with_decoder=False).eval(), 128),
    }
    out = {}
    for name, (tokenizer, size) in cases.items():
        tokenizer.to(DEVICE)
        x = torch.rand(1, frames, 3, size, size, device=DEVICE)
        seconds = best_seconds(lambda tokenizer=tokenizer, x=x: tokenizer.encode(x), args.repeats)
        tokens = frames * (size // tokenizer.downsample) ** 2
        out[name] = tokens / seconds
    return out


def vimpac_step(cfg, batch: int, precomputed: bool):
    torch.manual_seed(0)
    model = Vimpac(cfg).to(DEVICE).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    frames = torch.randint(
        0, 256, (2 * batch, cfg.num_frames, 3, cfg.image_size, cfg.image_size), dtype=torch.uint8, device=DEVICE
    )
    codes = model.tokenize(frames)
    if precomputed:  # the step reads codes, the tokenizer never runs
        model.tokenize = lambda _frames: codes

    def step():
        out = model.pretrain_forward(frames)
        first, second = out["clip_BE"].chunk(2)
        loss = out["mask_loss"] + clip_contrastive_loss(first, second, cfg.temperature)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def vidla_step(batch: int):
    from train.families.vidla.objectives import vidla_loss
    from train.model import build_model, tiny_cpu

    cfg = tiny_cpu()
    torch.manual_seed(0)
    model = build_model(cfg).to(DEVICE).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    frames = torch.randn(batch, cfg.num_frames, 3, cfg.image_size, cfg.image_size, device=DEVICE)
    ids = torch.randint(0, 600, (2 * batch, cfg.context_length), device=DEVICE)
    mask = torch.ones_like(ids)

    def step():
        subtitle, caption = model.encode_text(ids, mask).chunk(2)
        loss = vidla_loss(model.encode_video(frames), subtitle, caption, model.logit_scale)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def evilm_step(batch: int, tokenizer_stage: bool):
    torch.manual_seed(0)
    cfg = evilm_tiny()
    frames = torch.randint(
        0, 256, (batch, cfg.num_frames, 3, cfg.image_size, cfg.image_size), dtype=torch.uint8, device=DEVICE
    )
    ids = torch.randint(3, cfg.vocab_size, (batch, 32), device=DEVICE)
    mask = torch.ones_like(ids)
    if tokenizer_stage:
        model = SemanticVQTokenizer(tokenizer_tiny())
        losses = lambda: tokenizer_losses(model, frames, ids, mask)  # noqa: E731
        names = ("token", "vq")
    else:
        model = Evilm(cfg, SemanticVQTokenizer(tokenizer_tiny(), with_decoder=False))
        losses = lambda: pretrain_losses(model, frames, ids, mask)  # noqa: E731
        names = ("vtm", "mlm", "mvm")
    model.to(DEVICE).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        out = losses()
        sum(out[n] for n in names).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def fit_clips_per_second(steps: int) -> dict:
    """Median logged clips/s of `train fit` for each tiny preset on the same generated shards."""
    import json
    import statistics
    import tempfile

    from train.__main__ import main as train_main

    sys.path.insert(0, str(ROOT / "tests"))
    import factories  # tests/factories/

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        shards = factories.make_tiny_shards(Path(tmp) / "data", 16, 8)
        runs = [
            ("vidla-tiny-cpu", []),
            ("vimpac-tiny-cpu", []),
            ("evilm-tokenizer-tiny-cpu", []),
            ("evilm-tiny-cpu", [f"model.tokenizer_checkpoint={Path(tmp) / 'evilm-tokenizer-tiny-cpu'}"]),
        ]
        for config, extra in runs:
            run = Path(tmp) / config
            train_main(
                [
                    "fit",
                    "--config",
                    config,
                    "--shards",
                    str(shards),
                    "--output",
                    str(run),
                    "--no-progress",
                    f"steps={steps}",
                    *extra,
                ]
            )
            records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            out[config] = statistics.median(r["clips_per_s"] for r in records if r["step"] > 1)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and frames (under 2 minutes)")
    parser.add_argument("--batch", type=int, default=4, help="clips per training step")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--fit", action="store_true", help="also time `train fit` of each tiny preset on shards")
    parser.add_argument("--fit-steps", type=int, default=6)
    args = parser.parse_args(argv)
    global DEVICE
    DEVICE = torch.device(args.device)
    args.repeats = args.repeats or (2 if args.quick else 5)
    print(f"# {DEVICE.type}, {torch.get_num_threads()} CPU thread(s), fp32, best of {args.repeats}")

    print("\n## tokenizer throughput (codes per second)")
    rates = tokenizer_throughput(args)
    for name, rate in rates.items():
        print(f"{name:15s} {rate:12.0f} tokens/s   {rate / rates['dalle-full']:8.1f}x dalle-full")

    print("\n## codes on the fly vs precomputed (vimpac-tiny step, batch of 2 windows x {})".format(args.batch))
    fly = best_seconds(vimpac_step(vimpac_tiny(), args.batch, False), args.repeats)
    pre = best_seconds(vimpac_step(vimpac_tiny(), args.batch, True), args.repeats)
    print(
        f"on the fly {fly * 1e3:8.1f} ms/step   precomputed {pre * 1e3:8.1f} ms/step   "
        f"on-the-fly / precomputed: {fly / pre:.2f}x"
    )
    small = vimpac_small()
    clip_tokens = 2 * small.num_frames * small.token_side**2  # two windows of 5 x 16 x 16 codes
    dvae_seconds = clip_tokens / rates["dalle-full"]
    small_step = best_seconds(vimpac_step(small.replace(dvae_hidden=16, dvae_blocks_per_group=1), 1, True), 1)
    print(
        f"full dVAE per clip (2 x 5 frames of 128^2): {dvae_seconds:.2f} s   VIMPAC-small step on 1 clip "
        f"(precomputed codes): {small_step:.2f} s   dVAE / step: {dvae_seconds / small_step:.2f}x"
    )

    print(f"\n## training step, tiny presets, batch {args.batch} (vs vidla-tiny)")
    steps = {
        "vidla-tiny": vidla_step(args.batch),
        "vimpac-tiny": vimpac_step(vimpac_tiny(), args.batch, False),
        "evilm-tokenizer-tiny": evilm_step(args.batch, True),
        "evilm-tiny": evilm_step(args.batch, False),
    }
    seconds = {name: best_seconds(step, args.repeats) for name, step in steps.items()}
    for name, s in seconds.items():
        print(f"{name:22s} {args.batch / s:8.2f} clips/s   {seconds['vidla-tiny'] / s:6.2f}x vidla-tiny")

    if args.fit:
        print(f"\n## train fit on generated shards, {args.fit_steps} steps each (median clips/s after step 1)")
        rates = fit_clips_per_second(args.fit_steps)
        for name, rate in rates.items():
            print(f"{name:26s} {rate:8.2f} clips/s   {rate / rates['vidla-tiny-cpu']:6.2f}x vidla-tiny-cpu")


if __name__ == "__main__":
    main()
