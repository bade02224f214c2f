"""VIMPAC: attention layout, mask-then-predict + contrastive objectives learn, dVAE weights load."""

import pytest
import torch

from train.families.vimpac.config import vimpac_large_half, vimpac_tiny
from train.families.vimpac.loss import clip_contrastive_loss
from train.families.vimpac.model import Vimpac, load_dvae_weights
from train.vq import DalleEncoder


def _frames(B, cfg, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (B, cfg.num_frames, 3, cfg.image_size, cfg.image_size), generator=g, dtype=torch.uint8)


def test_shapes_and_the_papers_mask_ratio():
    cfg = vimpac_tiny()
    torch.manual_seed(0)
    model = Vimpac(cfg)
    assert model.mask_blocks == 4  # closest to 15% on 4 x 8 x 8 tokens
    codes = model.tokenize(_frames(2, cfg))
    assert codes.shape == (2, 4, 8, 8) and int(codes.max()) < 8192
    cls, x = model.encode_codes(codes)
    assert cls.shape == (2, 64) and x.shape == (2, 4, 8, 8, 64)
    emb = model.encode_video(_frames(3, cfg).float())
    assert emb.shape == (3, 32) and torch.allclose(emb.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert not any(p.requires_grad for p in model.tokenizer.parameters())
    with pytest.raises(ValueError, match="do not match"):
        model.encode_codes(codes[:, :2])


def test_temporal_attention_mixes_frames_and_spatial_attention_stays_axis_aligned():
    cfg = vimpac_tiny().replace(layers=1)
    torch.manual_seed(0)
    model = Vimpac(cfg).eval()
    codes = torch.randint(0, 8192, (1, 4, 8, 8))
    _, base = model.encode_codes(codes)
    changed = codes.clone()
    changed[0, 0, 2, 3] = (changed[0, 0, 2, 3] + 1) % 8192
    _, out = model.encode_codes(changed)
    moved = (out - base).abs().amax(-1)[0] > 1e-6  # (T, H, W) positions whose features changed
    # one layer, T then H|W: token (0, 2, 3) reaches (t, 2, 3) of every frame, then the column w=3
    # (height attention) and the row h=2 (width attention) of every frame, and nothing else
    expected = torch.zeros(4, 8, 8, dtype=torch.bool)
    expected[:, 2, :] = True
    expected[:, :, 3] = True
    assert torch.equal(moved, expected)


def test_large_half_halves_attention_width():
    cfg = vimpac_large_half()
    assert cfg.attn_width == 512 and cfg.heads == 16 and cfg.attn_width // cfg.heads == 32


def test_contrastive_loss_matches_a_direct_computation():
    torch.manual_seed(0)
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    gamma = 0.2
    loss = clip_contrastive_loss(a, b, gamma)
    an, bn = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    total = 0.0
    for x, y in ((an, bn), (bn, an)):
        for i in range(5):
            pos = torch.exp(x[i] @ y[i] / gamma)
            neg = sum(torch.exp(x[i] @ x[k] / gamma) for k in range(5) if k != i)
            den = neg + sum(torch.exp(x[i] @ y[k] / gamma) for k in range(5))
            total += -torch.log(pos / den) / 5
    assert torch.allclose(loss, gamma * total, atol=1e-5)
    assert clip_contrastive_loss(a, a + 1e-3 * b, gamma) < loss  # matched windows score lower


def test_a_few_steps_decrease_both_losses_on_a_fixed_batch():
    cfg = vimpac_tiny()
    torch.manual_seed(0)
    model = Vimpac(cfg)
    first, second = _frames(4, cfg, 1), _frames(4, cfg, 2)
    masks = model.sample_mask(torch.zeros(8, 4, 8, 8, dtype=torch.long))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    history = []
    for _ in range(12):
        out = model.pretrain_forward(torch.cat([first, second]), masks)
        f1, f2 = out["clip_BE"].chunk(2)
        cl = clip_contrastive_loss(f1, f2, cfg.temperature)
        history.append((out["mask_loss"].item(), cl.item()))
        opt.zero_grad()
        (out["mask_loss"] + cl).backward()
        opt.step()
    assert history[-1][0] < history[0][0] - 0.5
    assert history[-1][1] < history[0][1]


def test_dvae_weights_load_from_a_local_state_dict(tmp_path):
    torch.manual_seed(1)
    encoder = DalleEncoder(n_hid=16, n_blk_per_group=1, vocab_size=8192)
    torch.save(encoder.state_dict(), tmp_path / "encoder.pt")
    cfg = vimpac_tiny().replace(dvae_weights=str(tmp_path / "encoder.pt"))
    model = Vimpac(cfg)
    assert load_dvae_weights(model, cfg)["n_hid"] == 16
    frames = _frames(1, cfg)
    from train.vq import DalleTokenizer

    assert torch.equal(model.tokenize(frames), DalleTokenizer(encoder).encode(frames.float() / 255))
    with pytest.raises(ValueError, match="model.dvae_hidden"):
        load_dvae_weights(Vimpac(cfg.replace(dvae_hidden=32)), cfg.replace(dvae_hidden=32))


@pytest.mark.parametrize(
    "preset,paper_millions", [("vimpac-small", 29.4), ("vimpac-base", 119.7), ("vimpac-large-half", 210.1)]
)
def test_model_sizes_match_table_10(preset, paper_millions):
    from train.families.vimpac.config import PRESETS

    with torch.device("meta"):  # no memory, no init cost
        model = Vimpac(PRESETS[preset]().replace(dvae_hidden=16, dvae_blocks_per_group=1))
    backbone = sum(
        p.numel()
        for name, p in model.named_parameters()
        if not name.startswith(("tokenizer.", "contrastive_head.", "token_"))
    )  # no heads
    assert backbone / 1e6 == pytest.approx(paper_millions, rel=0.003)


def test_results_recipe_ends_with_ten_epochs_at_256_on_the_same_schedule():
    from train.config import get_preset, model_config
    from train.fit import lr_factor

    low, high = get_preset("vimpac-large-half"), get_preset("vimpac-large-half-256")
    assert (model_config(low).image_size, model_config(high).image_size) == (128, 256)
    assert model_config(low).num_frames == model_config(high).num_frames == 5
    assert low.steps + high.steps == low.schedule_steps == high.schedule_steps == 120_000  # 100 epochs
    assert high.steps == 12_000 and high.schedule_offset == low.steps  # the last 10 epochs
    for cfg in (low, high):  # 1024 clips an update on 8 GPUs, linear decay after 5% warm-up, lr 3e-4
        assert cfg.batch_size * cfg.grad_accum * 8 == 1024 and cfg.lr_schedule == "linear"
        assert cfg.warmup_steps == 6_000 and cfg.lr == 3e-4
    # negatives per clip (section 4.2): 2B - 1 over the B clips of all 8 GPUs' micro-batches
    assert (2 * 8 * low.batch_size - 1, 2 * 8 * high.batch_size - 1) == (255, 127)
    # the second run continues the first one's learning rate
    whole = low.replace(steps=120_000, schedule_steps=0)
    assert lr_factor(low.steps - 1, low) == pytest.approx(lr_factor(low.steps - 1, whole))
    assert [lr_factor(s, high) for s in (0, 6_000, 12_000)] == pytest.approx(
        [lr_factor(108_000 + s, whole) for s in (0, 6_000, 12_000)]
    )
    assert lr_factor(12_000, high) == pytest.approx(0.0)
    assert get_preset("vimpac-small").lr_schedule == "linear"  # "linear warm-up and linear decay"


def test_high_resolution_stage_interpolates_the_position_tables(tiny_shards, tmp_path):
    import json

    import torch.nn.functional as F

    from train.__main__ import main
    from train.checkpoint import load_checkpoint

    low = tmp_path / "low"
    base = ["--shards", str(tiny_shards), "--no-progress", "--batch-size", "2"]
    assert (
        main(
            [
                "fit",
                "--config",
                "vimpac-tiny-cpu",
                "--output",
                str(low),
                *base,
                "--steps",
                "2",
                "schedule_steps=3",
                "warmup_steps=1",
            ]
        )
        == 0
    )
    high = tmp_path / "high"
    assert (
        main(
            [
                "fit",
                "--config",
                "vimpac-tiny-cpu-hr",
                "--output",
                str(high),
                *base,
                "--steps",
                "1",
                "schedule_steps=3",
                "schedule_offset=2",
                "warmup_steps=1",
                f"init_from={low}",
            ]
        )
        == 0
    )
    before, after = load_checkpoint(low)["model"], load_checkpoint(high)["model"]
    assert before["pos_h"].shape[0] == 8 and after["pos_h"].shape[0] == 16  # 64 -> 128 pixels, 8 -> 16 tokens
    expected = F.interpolate(before["pos_w"].T[None, :, :, None], size=(16, 1), mode="bicubic", align_corners=False)[
        0, :, :, 0
    ].T
    # after one step the table moved a little from the interpolated one, not from a random init
    assert (after["pos_w"] - expected).abs().max() < 0.05 < (after["pos_w"] - after["pos_w"].roll(1, 0)).abs().max()
    torch.testing.assert_close(after["pos_t"], before["pos_t"], atol=0.05, rtol=0)
    # its step's learning rate is the 3-step schedule's at step 2, where the first run stopped
    from train.config import get_preset
    from train.fit import lr_factor

    whole = get_preset("vimpac-tiny-cpu").replace(steps=3, warmup_steps=1)
    rates = [json.loads(line)["lr"] for run in (low, high) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rates == pytest.approx([whole.lr * lr_factor(s, whole) for s in range(3)])
    assert rates[0] > rates[2] > 0
