"""E-ViLM: EdgeNeXt weights load by timm's names, the semantic tokenizer trains and round-trips, the
three pre-training objectives learn, codes of a trained tokenizer feed MVM."""

from pathlib import Path

import pytest
import torch

from train import checkpoint as ckpt
from train.families.evilm.config import evilm_tiny, tokenizer_tiny
from train.families.evilm.edgenext import EdgeNeXt, edgenext_small, edgenext_tiny_test, load_edgenext_weights
from train.families.evilm.model import Evilm, build_evilm
from train.families.evilm.objectives import pretrain_losses, tokenizer_losses
from train.families.evilm.tokenizer import (
    SemanticVQTokenizer,
    focal_word_loss,
    load_semantic_tokenizer,
    word_targets,
    words_mask,
)


def _batch(B=4, T=4, size=128, L=12, vocab=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (B, T, 3, size, size), generator=g, dtype=torch.uint8)
    ids = torch.randint(3, vocab, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    mask[0, 8:] = 0
    return frames, ids, mask


TIMM_REFERENCE = Path(__file__).with_name("data") / "timm_edgenext_tiny.safetensors"


def test_edgenext_small_has_the_published_size_stride_and_cost():
    """Against published numbers: timm's edgenext_small has 5,586,832 parameters with its 1000-class
    head (5.59M in E-ViLM section 4.1), feature maps of 48/96/160/304 channels at strides 4/8/16/32
    (timm's feature_info) and 1.26 GMACs at 256^2 (E-ViLM: "1.26G FLOPs for one 256x256 frame")."""
    from torch.utils.flop_counter import FlopCounterMode

    model = EdgeNeXt(edgenext_small()).eval()
    head = 304 * 1000 + 1000 + 2 * 304  # timm's classifier head (norm + fc), not part of the backbone
    assert sum(p.numel() for p in model.parameters()) + head == 5_586_832
    x = model.stem(torch.randn(1, 3, 256, 256))
    shapes = []
    for stage in model.stages:
        x = stage(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(48, 64, 64), (96, 32, 32), (160, 16, 16), (304, 8, 8)]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, 3, 256, 256))
    assert counter.get_total_flops() / 2 == pytest.approx(1.26e9, rel=0.01)  # multiply-adds


def _timm_reference():
    """timm's own EdgeNeXt at the tiny test sizes (tests/train/data/make_timm_edgenext.py wrote it with
    timm 1.0.31): its state dict, an input and timm's forward_features of it."""
    from safetensors import safe_open

    with safe_open(str(TIMM_REFERENCE), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    state = {k.removeprefix("state."): v for k, v in tensors.items() if k.startswith("state.")}
    return state, tensors["input"], tensors["features"]


def test_edgenext_matches_timms_model_with_the_same_weights(tmp_path):
    state, x, timm_features = _timm_reference()
    torch.save(state, tmp_path / "pytorch_model.bin")
    target = EdgeNeXt(edgenext_tiny_test()).eval()
    report = load_edgenext_weights(target, str(tmp_path / "pytorch_model.bin"))
    assert report["skipped"] == ["head.fc.bias", "head.fc.weight", "head.norm.bias", "head.norm.weight"]
    with torch.no_grad():
        torch.testing.assert_close(target(x), timm_features, rtol=1e-5, atol=1e-5)
    # the authors' release names (mmaaz60/EdgeNeXt), remapped as timm does
    import re

    original = {}
    for k, v in state.items():
        k = k.replace("stem.", "downsample_layers.0.")
        k = re.sub(r"stages\.([0-9]+)\.downsample\.([0-9]+)", r"downsample_layers.\1.\2", k)
        k = re.sub(r"stages\.([0-9]+)\.blocks\.([0-9]+)", r"stages.\1.\2", k)
        original[k.replace("conv_dw", "dwconv").replace("mlp.fc", "pwconv")] = v
    torch.save({"model": original}, tmp_path / "original.pth")
    again = EdgeNeXt(edgenext_tiny_test()).eval()
    load_edgenext_weights(again, str(tmp_path / "original.pth"))
    with torch.no_grad():
        torch.testing.assert_close(again(x), timm_features, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="do not match"):
        load_edgenext_weights(EdgeNeXt(edgenext_small()), str(tmp_path / "pytorch_model.bin"))
    with pytest.raises(ValueError, match="not found"):
        load_edgenext_weights(target, str(tmp_path / "missing.bin"))
    # through the family's weight loader, as `train fit ... model.edgenext_weights=FILE` does
    from train.families.evilm.model import load_pretrained_weights

    cfg = evilm_tiny().replace(edgenext_weights=str(tmp_path / "pytorch_model.bin"))
    model = Evilm(cfg).eval()
    assert load_pretrained_weights(model, cfg)["loaded"] == len(target.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(model.video_encoder(x), timm_features, rtol=1e-5, atol=1e-5)


def test_focal_loss_follows_equation_6():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    targets = torch.tensor([[1.0, 0.0, 0.0]])
    p = torch.sigmoid(logits)[0]
    expected = -(torch.log(p[0]) + p[1] * torch.log(1 - p[1]) + p[2] * torch.log(1 - p[2])) / 3
    assert torch.allclose(focal_word_loss(logits, targets), expected)
    ids, mask = torch.tensor([[9, 5, 7, 7, 8, 8]]), torch.tensor([[1, 1, 1, 1, 1, 0]])
    words = words_mask(mask)  # start (9) and end (8) of text are not words
    assert words.tolist() == [[False, True, True, True, False, False]]
    assert word_targets(ids, words, 10)[0].nonzero().flatten().tolist() == [5, 7]
    with pytest.raises(ValueError, match="outside"):
        word_targets(ids, words, 8)


def test_tokenizer_stage_learns_and_round_trips_through_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    cfg = tokenizer_tiny()
    tokenizer = SemanticVQTokenizer(cfg)
    frames, ids, mask = _batch()
    opt = torch.optim.AdamW(tokenizer.parameters(), lr=2e-3)
    first = None
    for _ in range(15):
        losses = tokenizer_losses(tokenizer, frames, ids, mask)
        if first is None:
            first = {k: float(v.detach()) for k, v in losses.items()}
        opt.zero_grad()
        (losses["token"] + losses["vq"]).backward()
        opt.step()
    assert float(losses["token"].detach()) < 0.7 * first["token"]
    assert float(losses["vq"].detach()) < first["vq"]
    codes = tokenizer.encode(frames.float() / 255)
    assert codes.shape == (4, 4, 4, 4) and int(codes.max()) < cfg.num_codes
    path = ckpt.save_checkpoint({"model": tokenizer.state_dict(), "model_config": cfg.__dict__}, tmp_path / "step.pt")
    loaded = load_semantic_tokenizer(path)
    assert loaded.decoder is None and not any(p.requires_grad for p in loaded.parameters())
    assert torch.equal(loaded.encode(frames.float() / 255), codes)
    with pytest.raises(ValueError, match="128"):
        loaded.encode(torch.rand(1, 4, 3, 64, 64))


def _tokenizer():
    torch.manual_seed(1)
    return SemanticVQTokenizer(tokenizer_tiny(), with_decoder=False)


def test_pretraining_objectives_decrease_on_a_fixed_batch():
    torch.manual_seed(0)
    model = Evilm(evilm_tiny(), _tokenizer())
    frames, ids, mask = _batch()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    history = []
    # 40 steps: VTM (through the pooler on [CLS]) only starts to pair clips and texts once MLM and MVM
    # have shaped the fused states; it sits at chance for the first 20
    for _step in range(40):
        torch.manual_seed(100)  # the same masks and negatives every step: a fixed batch
        losses = pretrain_losses(model, frames, ids, mask)
        history.append({k: float(v.detach()) for k, v in losses.items()})
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    assert set(history[0]) == {"vtm", "mlm", "mvm"}
    for name in ("vtm", "mlm", "mvm"):
        assert history[-1][name] < history[0][name], name
    assert not any(p.grad is not None for p in model.tokenizer.parameters())


def test_masks_have_the_papers_ratios():
    torch.manual_seed(0)
    model = Evilm(evilm_tiny())
    ids = torch.randint(3, 1000, (64, 30))
    inputs, labels = model.mask_words(ids, torch.ones_like(ids))
    ratio = (labels != -100).float().mean().item()
    assert abs(ratio - 0.15) < 0.02
    assert ((inputs == model.mask_token_id).float().sum() / (labels != -100).sum()).item() == pytest.approx(
        0.8, abs=0.05
    )
    patches = torch.zeros(1, 4, 4, 4, dtype=torch.bool)
    patches[0, 1, 2, 3] = True
    blanked = model.mask_patches(torch.full((1, 4, 3, 128, 128), 200, dtype=torch.uint8), patches)
    assert (blanked[0, 1, :, 64:96, 96:128] == 0).all() and int((blanked == 0).sum()) == 3 * 32 * 32


def test_match_scores_and_tokenizer_compatibility(tmp_path):
    torch.manual_seed(0)
    model = Evilm(evilm_tiny()).eval()
    frames, ids, mask = _batch(B=3)
    with torch.no_grad():
        scores = model.match_scores(model.encode_video(frames), ids, mask)
    assert scores.shape == (3, 3) and (scores <= 0).all()
    cfg = tokenizer_tiny().replace(image_size=64)
    path = ckpt.save_checkpoint(
        {"model": SemanticVQTokenizer(cfg).state_dict(), "model_config": cfg.__dict__}, tmp_path / "tok.pt"
    )
    with pytest.raises(ValueError, match="MVM needs"):
        build_evilm(evilm_tiny().replace(tokenizer_checkpoint=str(path)))


def test_sample_carries_a_seeded_forty_percent_mask(tiny_shards):
    import json
    import random
    from types import SimpleNamespace

    from webdataset.tariterators import tarfile_samples

    from train.families.evilm.data import evilm_sample

    raw = next(iter(tarfile_samples([{"url": str(sorted((tiny_shards / "shards").glob("*.tar"))[0])}])))
    cfg = SimpleNamespace(
        model_config=evilm_tiny(),
        num_frames=4,
        image_size=128,
        decode_short_side=160,
        train=True,
        crop_scales=(1.0, 0.8),
        flip=True,
        train_crop="multiscale",
    )
    a = evilm_sample(raw, json.loads(raw["json"]), cfg, random.Random(3))
    b = evilm_sample(raw, json.loads(raw["json"]), cfg, random.Random(3))
    assert a["frames_TCHW"].shape == (4, 3, 128, 128)
    assert a["patch_mask_THW"].shape == (4, 4, 4) and (a["patch_mask_THW"].sum((1, 2)) == 6).all()
    assert torch.equal(a["patch_mask_THW"], b["patch_mask_THW"])
    assert "patch_mask_THW" not in evilm_sample(raw, {}, cfg.__class__(**{**vars(cfg), "train": False}), None)


def test_tokenizer_encoder_loads_clip_vision_weights(tmp_path):
    from factories import save_tiny_clip

    from train.families.evilm.tokenizer import load_clip_vision_weights
    from train.families.vidla.config import tiny_cpu

    shapes = tiny_cpu().replace(image_size=128, patch_size=32, vision_width=64, vision_layers=2, vision_heads=4)
    clip = save_tiny_clip(tmp_path / "clip", shapes)
    cfg = tokenizer_tiny().replace(clip_weights=str(tmp_path / "clip"))
    tokenizer = SemanticVQTokenizer(cfg)
    report = load_clip_vision_weights(tokenizer, cfg)
    assert set(report["left_at_init"]) >= {"codebook", "to_code.weight", "decoder_pos"}
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        hf = clip.vision_model(pixel_values=x).last_hidden_state
        expected = clip.vision_model.post_layernorm(hf[:, 1:])
        assert torch.allclose(tokenizer.vision_model(x), expected, atol=1e-5)
    # CLIP trained at another resolution: the position grid is resized (3 x 3 -> 4 x 4 here)
    save_tiny_clip(tmp_path / "clip96", shapes.replace(image_size=96))
    cfg96 = cfg.replace(clip_weights=str(tmp_path / "clip96"))
    load_clip_vision_weights(SemanticVQTokenizer(cfg96), cfg96)


# Table 8 as printed: (part, parameters, half a unit of its last printed digit)
TABLE_8 = {
    "Textual Embedding Layer": (1.2e6, 0.05e6),
    "Textual Encoder": (2.4e6, 0.05e6),
    "Textual MLP Layer": (49.5e3, 0.05e3),
    "Token Type Emb. Layer": (1.2e3, 0.05e3),
    "Visual Encoder": (5.3e6, 0.05e6),
    "Visual MLP Layer": (117e3, 0.5e3),
    "Multi-Modal Decoder": (7.1e6, 0.05e6),
    "Multi-modal Pooling Layer": (147e3, 0.5e3),
    "CLS HEAD": (770, 0.5),
    "TOTAL": (16.3e6, 0.05e6),
}


def test_paper_model_matches_table_8_part_by_part():
    from train.families.evilm.config import evilm_paper
    from train.families.evilm.model import parameter_breakdown

    model = Evilm(evilm_paper())
    counts = parameter_breakdown(model)
    print(f"\n{'E-ViLM part':28s} {'ours':>11s} {'table 8':>11s}")
    for part, (paper, _half_unit) in TABLE_8.items():
        print(f"{part:28s} {counts[part]:>11,d} {paper:>11,.0f} {counts[part] / paper - 1:+.1%}")
    print(f"{'pre-training heads (not in table 8)':28s} {counts['pre-training only']:>11,d}")
    for part, (paper, half_unit) in TABLE_8.items():
        # within 3%, or equal to the table's figure as printed (1,152 is "1.2 K")
        assert abs(counts[part] - paper) <= max(0.03 * paper, half_unit), part
    assert counts["TOTAL"] + counts["pre-training only"] == sum(p.numel() for p in model.parameters())


def test_truncated_vocabulary_keeps_the_most_frequent_words(tmp_path):
    from train.families.evilm.vocab import main
    from train.tokenizer import build_wordpiece_tokenizer, load_tokenizer, tokenize

    words = [f"word{chr(97 + i)}{chr(97 + j)}" for i in range(26) for j in range(26)]
    base = build_wordpiece_tokenizer([" ".join(words), "a dog runs on the grass"] * 2, tmp_path / "base", 2000)
    base_size = len(load_tokenizer(str(base)))
    coco = {
        "annotations": [{"caption": "A dog runs on the grass."}] * 50
        + [{"caption": f"the {w}"} for w in words[:40] for _ in range(3)]
    }
    (tmp_path / "captions.json").write_text(__import__("json").dumps(coco))
    summary = main(
        [
            "--frequencies",
            str(tmp_path / "captions.json"),
            "--tokenizer",
            str(base),
            "--output",
            str(tmp_path / "vocab"),
            "--keep",
            "0.3",
        ]
    )
    truncated = load_tokenizer(str(tmp_path / "vocab"))
    assert summary["vocab_size"] == len(truncated) == round(0.3 * base_size)
    vocab = truncated.get_vocab()
    assert {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##z"} <= set(vocab)
    assert {"dog", "grass", "wordaa", "wordbn"} <= set(vocab)  # frequent in the captions
    assert "wordzz" not in vocab  # in the base vocabulary, never in the captions
    ids, _ = tokenize(truncated, ["a dog runs wordzz"], 12)
    pieces = truncated.convert_ids_to_tokens(ids[0].tolist())
    assert pieces[:4] == ["[CLS]", "a", "dog", "runs"] and "[UNK]" not in pieces  # wordzz in pieces
    assert pieces[pieces.index("[SEP]") - 1].startswith("##")
    # word counts (word<TAB>count) work as well as captions
    (tmp_path / "counts.tsv").write_text("dog\t7\nwordqq\t99\n")
    main(
        [
            "--frequencies",
            str(tmp_path / "counts.tsv"),
            "--tokenizer",
            str(base),
            "--output",
            str(tmp_path / "vocab2"),
            "--keep",
            "0.1",
        ]
    )
    assert "wordqq" in load_tokenizer(str(tmp_path / "vocab2")).get_vocab()
    # the paper preset's model takes the paper's vocabulary size: 30% of bert-base-uncased's 30,522
    from train.families.evilm.config import evilm_paper

    assert evilm_paper().vocab_size == round(0.3 * 30522)
