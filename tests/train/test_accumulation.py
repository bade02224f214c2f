"""Gradient accumulation with the whole accumulated batch as negatives (GradCache), and the learned
temperature: the training step's functions on a synthetic batch, and a short fit."""

import json
import math

import pytest
import torch
from factories import fit_args

from train.__main__ import main
from train.checkpoint import load_checkpoint
from train.fit import TrainStep, accumulate_contrastive, accumulate_per_micro_batch
from train.model import PRESETS, build_model
from train.objectives import ObjectiveContext
from train.objectives.video_text import VIDEO_TEXT
from train.registry import families

WEIGHTS = families()["vidla"].loss_weights


def _setup(**model_changes):
    mcfg = PRESETS["vidla-tiny-cpu"]().replace(**model_changes)
    torch.manual_seed(0)
    model = build_model(mcfg).train()
    ctx = ObjectiveContext(0, 1, 0, torch.device("cpu"), families()["vidla"].train_presets["vidla-tiny-cpu"](), mcfg)
    g = torch.Generator().manual_seed(1)
    B, L = 32, 12
    batch = {
        "frames_BTCHW": torch.randint(0, 256, (B, mcfg.num_frames, 3, 64, 64), dtype=torch.uint8, generator=g),
        "has_subtitle": torch.rand(B, generator=g) > 0.2,
    }
    batch["has_caption"] = ~batch["has_subtitle"] | (torch.rand(B, generator=g) > 0.3)
    for name in ("subtitle", "caption"):
        batch[f"{name}_ids"] = torch.randint(1, 500, (B, L), generator=g)
        batch[f"{name}_mask"] = (torch.arange(L)[None] < torch.randint(3, L, (B, 1), generator=g)).long()
    return model, TrainStep(model, {"video_text": VIDEO_TEXT}), ctx, batch


def _split(batch, parts):
    size = len(batch["has_subtitle"]) // parts
    return [{k: v[i * size : (i + 1) * size] for k, v in batch.items()} for i in range(parts)]


def _run(model, fn, step, micro_batches, ctx, seed=5):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss, named = fn(step, step.objectives, micro_batches, ctx, WEIGHTS)
    return loss, named, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_batch_8_accumulated_4_times_equals_one_batch_of_32():
    model, step, ctx, batch = _setup()
    loss_32, named_32, grads_32 = _run(model, accumulate_per_micro_batch, step, [batch], ctx)
    loss_8x4, named_8x4, grads_8x4 = _run(model, accumulate_contrastive, step, _split(batch, 4), ctx)
    torch.testing.assert_close(loss_8x4, loss_32)
    torch.testing.assert_close(named_8x4, named_32)
    assert grads_8x4.keys() == grads_32.keys() and "logit_scale" in grads_32
    for name, grad in grads_32.items():
        torch.testing.assert_close(grads_8x4[name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # the old accumulation (a loss per micro-batch of 8) is a different, smaller-batch objective
    loss_small, _, _ = _run(model, accumulate_per_micro_batch, step, _split(batch, 4), ctx)
    assert not torch.allclose(loss_small, loss_32)


def test_second_pass_draws_the_same_tube_masks():
    """With tube masking, GradCache equals keeping every micro-batch's graph (the same masks drawn in
    the same order): the RNG is restored before each re-run."""
    model, step, ctx, batch = _setup(tube_mask_ratio=0.5)
    micro = _split(batch, 4)
    loss, _, grads = _run(model, accumulate_contrastive, step, micro, ctx)

    model.zero_grad(set_to_none=True)
    torch.manual_seed(5)
    feats = [VIDEO_TEXT.features(model, b, ctx) for b in micro]
    joined = {k: torch.cat([f[k] for f in feats]) if feats[0][k].ndim else feats[0][k] for k in feats[0]}
    full_graph = sum(VIDEO_TEXT.loss(joined, ctx).values())
    full_graph.backward()
    torch.testing.assert_close(loss, full_graph.detach())
    for name, p in model.named_parameters():
        torch.testing.assert_close(grads[name], p.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_temperature_learns_from_ln_100_and_stays_clamped(tiny_shards, tmp_path):
    """CLIP checkpoints start at logit_scale = ln 100, where a clamp in the loss froze it; now the
    parameter moves and is clamped to ln 100 after each step."""
    run = tmp_path / "run"
    argv = fit_args(
        tiny_shards,
        run,
        "--steps",
        "3",
        "--batch-size",
        "4",
        "lr=1e-2",
        "warmup_steps=1",
        f"model.logit_scale_init={math.log(100) + 1e-3}",
    )
    assert main(argv) == 0
    scales = [json.loads(line)["logit_scale"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(s <= 100.0 * (1 + 1e-6) for s in scales)
    assert min(scales) < 99.0  # it learned (a clamp in the loss would have left it at 100)
    assert load_checkpoint(run)["model"]["logit_scale"] <= math.log(100) + 1e-6


@pytest.mark.slow
def test_fit_with_accumulation_resumes_exactly(tiny_shards, tmp_path):
    def run(name, *extra):
        argv = fit_args(
            tiny_shards,
            tmp_path / name,
            "--steps",
            "3",
            "--batch-size",
            "2",
            "grad_accum=2",
            "model.tube_mask_ratio=0.5",
            *extra,
        )
        assert main(argv) == 0
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line)["loss"] for line in lines]

    whole = run("whole")
    run("parts", "--stop-after", "1")
    assert run("parts", "--resume") == whole
