"""The VidLA model library: configs, CLIP weight loading, equivalences with CLIP, tube masking, ablations."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from factories import saved_tiny_clip

from train.model import PRESETS, ModelConfig, build_model
from train.model.towers import tube_mask
from train.model.weights import CheckpointError, load_clip_weights


def tiny(**changes) -> ModelConfig:
    return PRESETS["vidla-tiny-cpu"]().replace(**changes)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return saved_tiny_clip(tmp_path_factory, tiny(vocab_size=1000))


def test_presets_build_valid_configs_and_derive_from_b32():
    for name, preset in PRESETS.items():
        cfg = preset()
        assert isinstance(cfg, ModelConfig), name
        assert cfg.context_length == 77
    b32, b16, meanp = PRESETS["vidla-b32"](), PRESETS["vidla-b16"](), PRESETS["meanp-b32"]()
    assert (b32.num_patches, b16.num_patches) == (49, 196)
    assert (b32.num_levels, b32.tokens_per_level, b32.temporal_scale, b32.num_frames) == (3, 4, 2, 12)
    assert dataclasses.replace(b16, patch_size=32) == b32
    assert meanp.pooling == "meanp" and not meanp.use_mst and not meanp.use_local_temporal


@pytest.mark.parametrize(
    "changes, problem",
    [
        (dict(image_size=65), "not a multiple of patch_size"),
        (dict(vision_heads=3), "vision_width 64 is not divisible"),
        (dict(pooling="max"), "pooling 'max'"),
        (dict(pooling="meanp"), "frame-wise CLIP"),
        (dict(tube_mask_ratio=0.9), "tube_mask_ratio 0.9"),
        (dict(num_levels=0), "must be >= 1"),
    ],
)
def test_invalid_configs_raise_value_error_naming_the_problem(changes, problem):
    with pytest.raises(ValueError, match=problem):
        tiny(**changes)


def test_clip_weights_arrive_in_both_towers(tiny_clip):
    cfg, directory, clip = tiny_clip
    model = build_model(cfg.replace(clip_weights=str(directory)))
    ours = model.state_dict()
    theirs = {k: v for k, v in clip.state_dict().items() if not k.endswith("position_ids")}
    for name, tensor in theirs.items():
        torch.testing.assert_close(ours[name], tensor, rtol=0, atol=0, msg=name)
    new = sorted(set(ours) - set(theirs))
    assert new == sorted(load_clip_weights(build_model(cfg), directory))
    assert new and all(n.startswith("vision_model.") for n in new)
    assert {n.split(".")[-1] for n in new} >= {"temporal_embedding", "mst_embedding"}
    assert all(".temporal_" in n or n.endswith("_embedding") for n in new)


def test_meanp_equals_framewise_clip_and_text_equals_clip_text(tiny_clip):
    cfg, directory, clip = tiny_clip
    model = build_model(
        cfg.replace(clip_weights=str(directory), pooling="meanp", use_mst=False, use_local_temporal=False)
    ).eval()
    torch.manual_seed(0)
    frames = torch.randn(2, 3, 3, cfg.image_size, cfg.image_size)
    ids = torch.randint(1, cfg.vocab_size - 2, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.long)
    ids[0, -1] = cfg.vocab_size - 1  # end-of-text at each text's last attended position
    ids[1, 5], mask[1, 6:], ids[1, 6:] = cfg.vocab_size - 1, 0, 0
    with torch.no_grad():
        per_frame = clip.visual_projection(clip.vision_model(pixel_values=frames.flatten(0, 1)).pooler_output)
        expected_video = F.normalize(F.normalize(per_frame, dim=-1).view(2, 3, -1).mean(1), dim=-1)
        text_out = clip.text_model(input_ids=ids, attention_mask=mask).pooler_output
        expected_text = F.normalize(clip.text_projection(text_out), dim=-1)
        torch.testing.assert_close(model.encode_video(frames), expected_video, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.encode_text(ids, mask), expected_text, rtol=1e-5, atol=1e-5)


def test_zero_initialised_local_temporal_attention_is_the_identity_at_init():
    torch.manual_seed(0)
    with_local = build_model(tiny()).eval()
    without_local = build_model(tiny(use_local_temporal=False)).eval()
    missing, unexpected = without_local.load_state_dict(with_local.state_dict(), strict=False)
    assert not missing and unexpected and all(".temporal_" in k for k in unexpected)
    frames = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(with_local.encode_video(frames), without_local.encode_video(frames), rtol=0, atol=0)
    # and the branch is trainable: its zero output projection gets a gradient
    with_local.train().encode_video(frames).sum().backward()
    assert with_local.vision_model.encoder.layers[0].temporal_attn.out_proj.weight.grad.abs().sum() > 0


def test_mismatched_or_missing_checkpoint_raises_naming_the_directory(tiny_clip, tmp_path):
    cfg, directory, _ = tiny_clip
    with pytest.raises(CheckpointError, match=f"{directory}.*vision_model.embeddings.patch_embedding"):
        build_model(cfg.replace(clip_weights=str(directory), patch_size=32))
    with pytest.raises(CheckpointError, match=f"{tmp_path}: no model.safetensors"):
        build_model(cfg.replace(clip_weights=str(tmp_path)))
    with pytest.raises(CheckpointError, match="vision_config hidden_act 'quick_gelu' but the model uses 'gelu'"):
        build_model(cfg.replace(clip_weights=str(directory), hidden_act="gelu"))


def test_tube_mask_keeps_the_same_positions_in_every_frame():
    B, T, N, D = 3, 5, 16, 2
    position_id = torch.arange(N, dtype=torch.float)[None, None, :, None]
    frame_id = torch.arange(T, dtype=torch.float)[None, :, None, None]
    patches = (position_id + 100 * frame_id).expand(B, T, N, D).contiguous()
    torch.manual_seed(0)
    kept = tube_mask(patches, num_kept=4)
    assert kept.shape == (B, T, 4, D)
    positions = kept[..., 0] % 100  # (B, T, 4)
    assert (positions == positions[:, :1]).all()  # same positions in every frame
    assert ((kept[..., 0] // 100) == torch.arange(T)[None, :, None]).all()  # frames stay in order
    assert len({tuple(p.tolist()) for p in positions[:, 0]}) > 1  # drawn per clip
    for clip_positions in positions[:, 0]:
        assert len(set(clip_positions.tolist())) == 4


@pytest.mark.parametrize("ratio, kept", [(0.0, 16), (0.5, 8), (0.75, 4)])
def test_tube_masking_applies_in_training_only(ratio, kept):
    model = build_model(tiny(tube_mask_ratio=ratio))
    frames = torch.randn(2, 4, 3, 64, 64)
    model.train()
    _, layout = model.vision_model.embed(frames)
    assert layout.num_patches == kept
    model.eval()
    _, layout = model.vision_model.embed(frames)
    assert layout.num_patches == 16


@pytest.mark.parametrize("name", sorted(n for n in PRESETS if n.startswith("vidla-b32-") or n == "meanp-b32"))
def test_ablation_variants_train_at_tiny_scale(name):
    """Every table 4 / table 15 preset, shrunk to tiny towers, runs forward and backward."""
    cfg = PRESETS[name]()
    keep = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if f.name
        in (
            "num_levels",
            "tokens_per_level",
            "temporal_scale",
            "use_mst",
            "use_hierarchy",
            "use_local_temporal",
            "pooling",
        )
    }
    model = build_model(tiny(**keep)).train()
    video = model.encode_video(torch.randn(2, 4, 3, 64, 64))
    text = model.encode_text(torch.randint(0, 100, (2, 8)), torch.ones(2, 8, dtype=torch.long))
    (video * text).sum().backward()
    assert video.shape == (2, 32) and torch.allclose(video.norm(dim=-1), torch.ones(2))
    assert all(
        p.grad is not None
        for n, p in model.named_parameters()
        if "temporal_embedding" not in n and "logit_scale" not in n
    ), name


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = build_model(tiny()).train()
    checkpointed = build_model(tiny(grad_checkpointing=True)).train()
    checkpointed.load_state_dict(plain.state_dict())
    frames, ids = torch.randn(2, 4, 3, 64, 64), torch.randint(0, 100, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.long)
    for model in (plain, checkpointed):
        (model.encode_video(frames) @ model.encode_text(ids, mask).T).sum().backward()
    for (name, p), q in zip(plain.named_parameters(), checkpointed.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6, msg=name)


def test_bad_inputs_raise_value_errors():
    model = build_model(tiny()).eval()
    with pytest.raises(ValueError, match=r"frames must be \(B, T, 3, 64, 64\)"):
        model.encode_video(torch.randn(1, 4, 3, 32, 32))
    with pytest.raises(ValueError, match="5 frames exceed"):
        model.encode_video(torch.randn(1, 5, 3, 64, 64))
    with pytest.raises(ValueError, match="longer than the context length"):
        model.encode_text(torch.zeros(1, 78, dtype=torch.long), torch.ones(1, 78, dtype=torch.long))
    with pytest.raises(ValueError, match="all-zero attention mask"):
        model.encode_text(torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long))


def test_model_library_has_no_torch_distributed():
    import re
    from pathlib import Path

    import train.model

    uses_distributed = re.compile(r"(import|from)\s+torch\.distributed|torch\.distributed\.|dist\.")
    for source in Path(train.model.__file__).parent.glob("*.py"):
        assert not uses_distributed.search(source.read_text()), source


def test_logit_scale_starts_at_clip_temperature_and_is_clamped_where_used():
    model = build_model(tiny())
    assert model.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    assert model.logit_scale_value().item() == pytest.approx(1 / 0.07)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(1000.0))
    assert model.logit_scale_value().item() == pytest.approx(100.0)


def test_temporal_embedding_starts_random_without_clip_and_zero_with_clip(tiny_clip):
    torch.manual_seed(0)
    model = build_model(tiny()).eval()
    temporal = model.vision_model.embeddings.temporal_embedding.detach()
    assert 0.45 < float(temporal.std()) < 0.7  # N(0, 3**-0.5)
    # frame order is visible from the start: a clip and its time-reversal embed apart, which they
    # hardly do with a zero-initialised temporal embedding (what kept a random-init model at chance)
    torch.manual_seed(1)
    frames = torch.randn(1, 4, 3, 64, 64)
    zero = build_model(tiny(temporal_embedding_std=0.0)).eval()
    with torch.no_grad():
        gap = (model.encode_video(frames) - model.encode_video(frames.flip(1))).norm()
        zero_gap = (zero.encode_video(frames) - zero.encode_video(frames.flip(1))).norm()
    assert gap > 3 * zero_gap  # 6x here (random frames)
    cfg, directory, _ = tiny_clip
    clip_model = build_model(cfg.replace(clip_weights=str(directory)))
    assert not clip_model.vision_model.embeddings.temporal_embedding.detach().any()
