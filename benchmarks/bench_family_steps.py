"""Each family's tiny training step, and its loader, on generated shards: the figure that a change to a
family must not slow by more than 5% (issue 20). Run it against two checkouts to compare them:

    python benchmarks/bench_family_steps.py --data /tmp/bench-data                  # this checkout
    python benchmarks/bench_family_steps.py --data /tmp/bench-data --code OLD_TREE   # another one

A step is what ``train fit`` does per optimizer step (the family's objectives through ``TrainStep``,
backward, clipping, AdamW) on batches the family's loader made beforehand, so decoding is not in it;
``--loader`` times the loader alone (samples per second, one process). Best of ``--repeats`` after a
warm-up step; one JSON line per preset.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PRESETS = (
    "vidla-tiny-cpu",
    "hdvila-tiny-cpu",
    "hdvila-tiny-cpu-stage2",
    "vimpac-tiny-cpu",
    "longvideo-tiny-cpu",
    "longvideo-tiny-cpu-long",
    "evilm-tokenizer-tiny-cpu",
    "evilm-tiny-cpu",
)


def make_data(folder: Path) -> dict:
    """Generated shards (made once): 16 clips of distinct videos, a curated HD-VILA output, and VIMPAC's
    layout of four clips per video."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    import factories  # tests/factories/

    folders = {"clips": folder / "clips", "hdvila": folder / "hdvila" / "curated", "videos": folder / "videos"}
    if not (folders["clips"] / "clips.parquet").exists():
        factories.make_tiny_shards(folders["clips"], 16, 8)
    if not (folders["hdvila"] / "clips.parquet").exists():
        factories.make_curated_shards(folders["hdvila"].parent)
    if not (folders["videos"] / "clips.parquet").exists():
        samples = []
        for v in range(4):
            for i in range(4):
                mp4 = factories.make_clip_video(folder / f"v{v}c{i}.mp4", variant=v + i, seconds=2.0).read_bytes()
                clip = factories.make_clip(
                    f"video{v}", i, caption="a clip", subtitle=factories.sentence(4 * v + i), start=2.0 * i, seconds=2.0
                )
                samples.append((clip, mp4))
        factories.write_shards(folders["videos"], samples, per_shard=8)
    return {k: str(v) for k, v in folders.items()}


def shards_of(preset: str, data: dict) -> str:
    if preset.startswith("hdvila") or preset.startswith("longvideo"):
        return data["hdvila"]  # curated: sentence clips (and no video scale: stage 2 reads every clip)
    return data["videos"] if preset.startswith("vimpac") else data["clips"]


def setup(preset: str, shards: str, workdir: Path, batches: int):
    import torch

    from train.config import get_preset, model_config
    from train.data.shards import ClipLoaderConfig, expand_shards, make_loader
    from train.fit import TrainStep, build_family_model, param_groups, shard_texts, to_device
    from train.objectives import loss_weights
    from train.registry import family_of_model, load
    from train.tokenizer import TOKENIZER_BUILDERS

    cfg = get_preset(preset)
    if preset.endswith("-long"):  # stage 2 on every clip (the shards hold no video windows)
        cfg = cfg.replace(model_overrides={**cfg.model_overrides, "scales": ()})
    urls = expand_shards(shards)
    tokenizer = workdir / f"tokenizer-{cfg.tokenizer_kind}"
    if not (tokenizer / "tokenizer_config.json").exists():
        TOKENIZER_BUILDERS[cfg.tokenizer_kind](shard_texts(urls), tokenizer, cfg.tokenizer_vocab_size)
    mcfg = model_config(cfg)
    family = family_of_model(cfg.model)
    fields = {f.name for f in dataclasses.fields(ClipLoaderConfig)}
    optional = {"train_crop": getattr(cfg, "train_crop", None)}
    loader_cfg = ClipLoaderConfig(
        batch_size=cfg.batch_size,
        num_frames=getattr(mcfg, "num_frames", 0),
        image_size=getattr(mcfg, "image_size", 0),
        train=True,
        crop_scales=cfg.crop_scales,
        flip=cfg.flip,
        decode_short_side=cfg.decode_short_side,
        shuffle_buffer=cfg.shuffle_buffer,
        seed=0,
        num_workers=0,
        tokenizer=str(tokenizer),
        context_length=mcfg.context_length,
        sample=family.sample,
        model_config=mcfg,
        **{k: v for k, v in optional.items() if k in fields and v is not None},
    )
    torch.manual_seed(0)
    model = build_family_model(family, mcfg, cfg.replace(init_from=None))
    objectives = {name: load(path) for name, path in family.objectives.items()}
    weights = loss_weights(family, cfg)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas)
    loader = iter(make_loader(urls, loader_cfg))
    started = time.perf_counter()
    batch_list = [to_device(next(loader), torch.device("cpu")) for _ in range(batches)]
    loader_seconds = time.perf_counter() - started
    return cfg, mcfg, model, TrainStep(model, objectives), objectives, weights, optimizer, batch_list, loader_seconds


def time_steps(preset: str, shards: str, workdir: Path, repeats: int) -> dict:
    import torch

    from train.fit import accumulate_per_micro_batch, weighted_total  # noqa: F401
    from train.objectives import ObjectiveContext

    cfg, mcfg, model, train_step, objectives, weights, optimizer, batches, loader_seconds = setup(
        preset, shards, workdir, repeats + 1
    )
    train_step.train()
    times = []
    for i, batch in enumerate(batches):
        ctx = ObjectiveContext(0, 1, i, torch.device("cpu"), cfg, mcfg)
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        accumulate_per_micro_batch(train_step, objectives, [batch], ctx, weights)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        times.append(time.perf_counter() - started)
    return {
        "preset": preset,
        "step_ms": 1e3 * min(times[1:]),
        "batch": cfg.batch_size,
        "loader_samples_per_s": cfg.batch_size * len(batches) / loader_seconds,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="folder for the generated shards (made once, reused)")
    parser.add_argument("--code", help="the checkout to measure (default: this one)")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(args.code).resolve() if args.code else HERE.parent))
    data = make_data(Path(args.data))
    workdir = Path(args.data) / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    for preset in args.presets.split(","):
        print(
            json.dumps(
                {
                    "code": args.code or "this checkout",
                    **time_steps(preset, shards_of(preset, data), workdir, args.repeats),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
