"""Contrastive losses: hand computations, missing texts, and gathered local loss across a 2-process world."""

from __future__ import annotations

import math
import socket

import pytest
import torch
import torch.nn.functional as F

from train.families.vidla.objectives import vidla_loss
from train.loss import ClipLoss, info_nce


def unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def hand_info_nce(video, text, scale, rows):
    """Equation 3's L_vt^i with plain Python loops, averaged over `rows`; columns: existing texts / all videos."""
    total = 0.0
    for i in rows:
        v2t = [scale * float(video[i] @ text[j]) for j in rows]
        t2v = [scale * float(text[i] @ video[j]) for j in range(len(video))]
        total += -(v2t[rows.index(i)] - math.log(sum(math.exp(s) for s in v2t)))
        total += -(t2v[i] - math.log(sum(math.exp(s) for s in t2v)))
    return total / len(rows)


def test_clip_loss_equals_hand_computation_and_open_clip_formula():
    torch.manual_seed(0)
    video, text = unit(torch.randn(5, 8)), unit(torch.randn(5, 8))
    logit_scale = torch.tensor(math.log(20.0))
    loss = ClipLoss()(video, text, logit_scale)
    assert loss.item() == pytest.approx(0.5 * hand_info_nce(video, text, 20.0, list(range(5))), rel=1e-5)
    logits = 20.0 * video @ text.T
    open_clip = (F.cross_entropy(logits, torch.arange(5)) + F.cross_entropy(logits.T, torch.arange(5))) / 2
    torch.testing.assert_close(loss, open_clip)


def test_logit_scale_is_exponentiated_unclamped_so_it_learns_at_the_bound():
    """CLIP checkpoints hold logit_scale = ln 100 (4.6052): the loss must still give it a gradient
    (the trainer clamps the parameter after the step instead)."""
    torch.manual_seed(0)
    video, text = unit(torch.randn(4, 8)), unit(torch.randn(4, 8))
    logit_scale = torch.tensor(4.6052, requires_grad=True)
    loss = ClipLoss()(video, text, logit_scale)
    logits = math.exp(4.6052) * video @ text.T
    expected = (F.cross_entropy(logits, torch.arange(4)) + F.cross_entropy(logits.T, torch.arange(4))) / 2
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert logit_scale.grad != 0


def test_vidla_loss_is_equation_3_with_missing_texts():
    torch.manual_seed(0)
    B = 6
    video, subtitle, caption = (unit(torch.randn(B, 8)) for _ in range(3))
    has_subtitle = torch.tensor([1, 1, 0, 1, 0, 1], dtype=torch.bool)
    has_caption = torch.tensor([1, 0, 1, 1, 1, 1], dtype=torch.bool)
    logit_scale = torch.tensor(math.log(10.0))
    loss = vidla_loss(video, subtitle, caption, logit_scale, has_subtitle, has_caption)
    expected = hand_info_nce(video, subtitle, 10.0, [0, 1, 3, 5]) + hand_info_nce(video, caption, 10.0, [0, 2, 3, 4, 5])
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # the features of missing texts do not matter
    subtitle2 = subtitle.clone()
    subtitle2[~has_subtitle] = unit(torch.randn(2, 8))
    torch.testing.assert_close(vidla_loss(video, subtitle2, caption, logit_scale, has_subtitle, has_caption), loss)
    # all texts present: the sum of the two symmetric losses, no halving
    full = vidla_loss(video, subtitle, caption, logit_scale)
    expected_full = hand_info_nce(video, subtitle, 10.0, list(range(B))) + hand_info_nce(
        video, caption, 10.0, list(range(B))
    )
    assert full.item() == pytest.approx(expected_full, rel=1e-5)


def test_batch_without_any_subtitle_trains_on_captions_only():
    torch.manual_seed(0)
    video = unit(torch.randn(3, 8)).requires_grad_(True)
    subtitle, caption = unit(torch.randn(3, 8)), unit(torch.randn(3, 8))
    logit_scale = torch.tensor(math.log(10.0))
    none = torch.zeros(3, dtype=torch.bool)
    loss = vidla_loss(video, subtitle, caption, logit_scale, none, ~none)
    assert loss.item() == pytest.approx(hand_info_nce(video.detach(), caption, 10.0, [0, 1, 2]), rel=1e-5)
    loss.backward()
    assert video.grad.abs().sum() > 0


def test_bad_inputs_raise_value_errors():
    video = unit(torch.randn(3, 8))
    with pytest.raises(ValueError, match="differ in shape"):
        ClipLoss()(video, video[:2], torch.tensor(1.0))
    with pytest.raises(ValueError, match="neither a subtitle nor a caption"):
        none = torch.zeros(3, dtype=torch.bool)
        vidla_loss(video, video, video, torch.tensor(1.0), none, none | torch.tensor([1, 1, 0], dtype=torch.bool))
    with pytest.raises(ValueError, match="rank 2"):
        ClipLoss(rank=2, world_size=2)


def global_batch():
    torch.manual_seed(0)
    B = 8
    return dict(
        video=torch.randn(B, 6),
        subtitle=torch.randn(B, 6),
        caption=torch.randn(B, 6),
        has_subtitle=torch.tensor([1, 0, 1, 1, 0, 0, 1, 1], dtype=torch.bool),
        has_caption=torch.tensor([1, 1, 1, 0, 1, 1, 1, 0], dtype=torch.bool),
        logit_scale=torch.tensor(math.log(15.0)),
    )


def losses_and_grads(batch, rank=0, world_size=1):
    """(vidla loss, clip loss, grads of the raw features and logit_scale) for this rank's share of the batch."""
    share = len(batch["video"]) // world_size
    part = slice(rank * share, (rank + 1) * share)
    leaves = {k: batch[k][part].clone().requires_grad_(True) for k in ("video", "subtitle", "caption")}
    logit_scale = batch["logit_scale"].clone().requires_grad_(True)
    video, subtitle, caption = (unit(leaves[k]) for k in ("video", "subtitle", "caption"))
    loss = vidla_loss(
        video,
        subtitle,
        caption,
        logit_scale,
        batch["has_subtitle"][part],
        batch["has_caption"][part],
        rank=rank,
        world_size=world_size,
    )
    clip = ClipLoss(rank, world_size)(video, caption, logit_scale)
    (loss + clip).backward()
    grads = {k: v.grad for k, v in leaves.items()}
    grads["logit_scale"] = logit_scale.grad
    return loss.detach(), clip.detach(), grads


def _distributed_worker(rank, world_size, port, results):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        results[rank] = losses_and_grads(global_batch(), rank, world_size)
    finally:
        dist.destroy_process_group()


def test_gathered_local_loss_across_two_ranks_matches_one_process_on_the_whole_batch():
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    world_size = 2
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_distributed_worker, args=(world_size, port, results), nprocs=world_size, join=True)
        per_rank = [results[r] for r in range(world_size)]
    single_loss, single_clip, single_grads = losses_and_grads(global_batch())
    # DDP averages gradients over ranks; the loss it reports is the mean over ranks
    torch.testing.assert_close(sum(r[0] for r in per_rank) / world_size, single_loss)
    torch.testing.assert_close(sum(r[1] for r in per_rank) / world_size, single_clip)
    for name in ("video", "subtitle", "caption"):
        ddp_grad = torch.cat([r[2][name] for r in per_rank]) / world_size
        torch.testing.assert_close(ddp_grad, single_grads[name], rtol=1e-5, atol=1e-7, msg=name)
    ddp_scale_grad = sum(r[2]["logit_scale"] for r in per_rank) / world_size
    torch.testing.assert_close(ddp_scale_grad, single_grads["logit_scale"], rtol=1e-5, atol=1e-7)


def test_clip_loss_is_half_the_symmetric_info_nce_of_equation_3():
    torch.manual_seed(0)
    video, text = unit(torch.randn(4, 8)), unit(torch.randn(4, 8))
    torch.testing.assert_close(
        info_nce(video, text, torch.tensor(2.0)), 2 * ClipLoss(0, 1)(video, text, torch.tensor(2.0))
    )


def test_time_order_is_off_by_default_and_ln2_for_an_order_blind_model(tiny_shards, tmp_path):
    """loss_weights=time_order:W (ours) adds each text's clip-versus-reversed-clip term; meanP pools
    frames without order, so its clip and the reversal score alike and the term is exactly ln 2."""
    import json

    from train.__main__ import main

    def run(name, *extra):
        out = tmp_path / name
        argv = [
            "fit",
            "--config",
            "tiny-cpu",
            "--shards",
            str(tiny_shards),
            "--output",
            str(out),
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--no-progress",
            *extra,
        ]
        assert main(argv) == 0
        return [
            json.loads(line)["losses"]
            for line in (out / "metrics.jsonl").read_text().splitlines()
            if '"losses"' in line
        ]

    assert all("time_order" not in losses for losses in run("paper"))
    ordered = run("ordered", "loss_weights=time_order:1")
    assert all(0 < losses["time_order"] for losses in ordered)
    assert any(abs(losses["time_order"] - math.log(2)) > 1e-4 for losses in ordered)  # VidLA sees order
    blind = run(
        "meanp",
        "loss_weights=time_order:1",
        "model.pooling=meanp",
        "model.use_mst=false",
        "model.use_local_temporal=false",
    )
    assert all(losses["time_order"] == pytest.approx(math.log(2), abs=1e-5) for losses in blind)
