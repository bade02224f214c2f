"""The long-video family (seed 003): configs, tubelet inflation from CLIP, masking against a dense
reference, shapes, and a few optimisation steps of the named contrastive losses."""

from __future__ import annotations

import pytest
import torch
from factories import saved_tiny_clip

from train.config import get_preset
from train.families.longvideo import MODEL_PRESETS, LongVideoConfig, build_model
from train.families.longvideo.model import random_kept_tokens, tube_kept_tokens
from train.families.longvideo.weights import inflate_patch_kernel, load_clip, resize_position_grid
from train.families.vidla.objectives import VIDEO_TEXT
from train.model.weights import CheckpointError
from train.objectives import ObjectiveContext


def tiny(**changes) -> LongVideoConfig:
    return MODEL_PRESETS["longvideo-tiny-cpu"]().replace(**changes)


def frames(B=2, T=8, size=64, seed=0) -> torch.Tensor:
    return torch.randn(B, T, 3, size, size, generator=torch.Generator().manual_seed(seed))


def texts(B=2, L=7, vocab=1000, seed=0):
    ids = torch.randint(1, vocab - 2, (B, L), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(B, L, dtype=torch.long)
    mask[0, 5:] = 0
    ids[0, 4] = ids[1:, -1] = vocab - 1  # CLIP's end-of-text at each text's last attended position
    return ids, mask


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return saved_tiny_clip(tmp_path_factory, tiny(vocab_size=1000), "tiny-clip-longvideo")


def test_presets_and_the_two_stages():
    for name, preset in MODEL_PRESETS.items():
        assert isinstance(preset(), LongVideoConfig), name
    short, long = MODEL_PRESETS["longvideo-b16-short"](), MODEL_PRESETS["longvideo-b16-long"]()
    assert (short.patch_size, short.tubelet_frames, short.num_frames, short.mask_ratio) == (16, 2, 16, 0.0)
    assert (long.num_frames, long.mask_ratio, long.scales) == (128, 0.75, ("video",))
    assert (short.image_size, short.num_patches) == (256, 256)  # the paper's 256x256 frames
    assert long.num_time_steps * long.num_patches == 64 * 256  # 16.4k tokens before masking
    tiny_short, tiny_long = MODEL_PRESETS["longvideo-tiny-cpu"](), MODEL_PRESETS["longvideo-tiny-cpu-long"]()
    assert tiny_long.num_frames > tiny_short.num_frames and tiny_long.mask_ratio == 0.75
    assert tiny_long.replace(num_frames=tiny_short.num_frames, mask_ratio=0.0, scales=()) == tiny_short


@pytest.mark.parametrize(
    "changes, problem",
    [
        (dict(mask_ratio=0.8), "mask_ratio"),
        (dict(mask_kind="block"), "mask_kind"),
        (dict(num_frames=7), "multiple of tubelet_frames"),
        (dict(tubelet_frames=0), "tubelet_frames"),
        (dict(temporal_positions=0), "temporal_positions"),
        (dict(image_size=60), "patch_size"),
        (dict(scales=("clip",)), "curation scales"),
        (dict(vision_heads=5), "vision_width"),
    ],
)
def test_bad_configs_name_the_problem(changes, problem):
    with pytest.raises(ValueError, match=problem):
        tiny(**changes)


def test_shapes_and_unit_norm():
    model = build_model(tiny(vocab_size=1000)).eval()
    with torch.no_grad():
        video = model.encode_video(frames(T=8))
        short = model.encode_video(frames(T=4))
        text = model.encode_text(*texts())
        image = model.encode_image(frames()[:, 0])
    for x in (video, short, text, image):
        assert x.shape == (2, 32)
        torch.testing.assert_close(x.norm(dim=-1), torch.ones(2))
    tokens = model.vision_model.embeddings.video(frames(T=8))
    assert tokens.shape == (2, 4, 16, 64)  # (B, T/t, N, width)


def test_stage_two_reads_the_stage_one_temporal_table_stretched():
    short = build_model(tiny())
    with torch.no_grad():
        short.vision_model.embeddings.temporal_embedding.copy_(torch.arange(4.0)[:, None].expand(4, 64))
    long = build_model(MODEL_PRESETS["longvideo-tiny-cpu-long"]())
    long.load_state_dict(short.state_dict())  # the same tensors, whatever the frame count
    table = long.vision_model.embeddings
    torch.testing.assert_close(table.temporal(4), short.vision_model.embeddings.temporal_embedding)
    stretched = table.temporal(16)[:, 0]  # 32 frames = 16 tubelet steps over the 4 rows
    torch.testing.assert_close(stretched, torch.linspace(0.0, 3.0, 16))
    with torch.no_grad():
        assert long.encode_video(frames(T=32)).shape == (2, 32)


@pytest.mark.parametrize("T", [3, 10])
def test_bad_frame_counts_are_refused(T):
    model = build_model(tiny())
    with pytest.raises(ValueError, match="frames"):
        model.encode_video(frames(T=T))


def test_random_and_tube_masks_keep_what_they_say():
    gen = torch.Generator().manual_seed(0)
    kept = random_kept_tokens(3, 40, 10, generator=gen)
    assert kept.shape == (3, 10)
    for row in kept:
        assert len(set(row.tolist())) == 10 and bool((row.diff() > 0).all()) and int(row.max()) < 40
    assert not torch.equal(kept[0], kept[1])  # a different mask per video
    tube = tube_kept_tokens(2, 4, 16, 5, generator=gen)  # 4 time steps of 16 positions, 5 kept
    assert tube.shape == (2, 20)
    positions = (tube % 16).view(2, 4, 5)
    assert bool((positions == positions[:, :1]).all())  # the same positions at every time step
    assert ((tube // 16).view(2, 4, 5) == torch.arange(4)[None, :, None]).all()
    cfg = tiny(mask_ratio=0.75)
    assert cfg.num_kept_tokens(4) == 16 and cfg.replace(mask_kind="tube").num_kept_tokens(4) == 16
    model = build_model(cfg.replace(mask_kind="tube"))
    assert model.vision_model.sample_kept_tokens(2, 4).shape == (2, 16)


def dense_reference(model, frames_BTCHW, kept_BK) -> torch.Tensor:
    """Every token through the encoder, the dropped ones hidden from attention by a key mask, and the
    mean taken over the kept ones: what dropping the masked tokens must compute."""
    vision = model.vision_model
    tokens_BSND = vision.embeddings.video(frames_BTCHW)
    B, S, N, D = tokens_BSND.shape
    keep_BL = torch.zeros(B, S * N, dtype=torch.bool)
    keep_BL[torch.arange(B)[:, None], kept_BK] = True
    x_BLD = vision.encoder(vision.pre_layrnorm(tokens_BSND.reshape(B, S * N, D)), attn_mask=keep_BL[:, None, None, :])
    pooled_BD = (x_BLD * keep_BL[..., None]).sum(dim=1) / keep_BL.sum(dim=1, keepdim=True)
    return vision.post_layernorm(pooled_BD)


@pytest.mark.parametrize("kind", ["random", "tube"])
def test_masked_encoder_matches_dense_masked_attention(kind):
    torch.manual_seed(0)
    model = build_model(tiny(mask_ratio=0.5, mask_kind=kind))
    with torch.no_grad():  # non-zero temporal embeddings, so time steps differ
        model.vision_model.embeddings.temporal_embedding.normal_(std=0.1)
    video = frames(T=8)
    kept = model.vision_model.sample_kept_tokens(2, 4)
    assert kept.shape == (2, 32)
    with torch.no_grad():
        fast = model.vision_model(video, kept)
        reference = dense_reference(model, video, kept)
        unmasked = model.vision_model(video, None)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(fast, unmasked, atol=1e-3)


def test_masking_applies_in_training_only():
    torch.manual_seed(0)
    model = build_model(tiny(mask_ratio=0.75))
    video = frames(T=8)
    with torch.no_grad():
        model.eval()
        first, second = model.encode_video(video), model.encode_video(video)
        model.train()
        masked_a, masked_b = model.encode_video(video), model.encode_video(video)
    torch.testing.assert_close(first, second)
    assert not torch.allclose(masked_a, masked_b, atol=1e-4)  # a fresh random mask every call


def test_inflated_clip_embeds_a_static_video_as_its_image(tiny_clip):
    cfg, directory, clip = tiny_clip
    model = build_model(cfg.replace(clip_weights=str(directory))).eval()
    w2d = clip.vision_model.embeddings.patch_embedding.weight
    w3d = model.vision_model.embeddings.tubelet_embedding.weight
    assert w3d.shape == (64, 3, 2, 16, 16)
    torch.testing.assert_close(w3d.sum(dim=2), w2d)
    torch.testing.assert_close(inflate_patch_kernel(w2d, 4).sum(dim=2), w2d)

    image = frames(B=2)[:, 0]
    with torch.no_grad():
        # the image embedding of CLIP's own modules, mean-pooled without [CLS]: transformers' code, not ours
        hf = clip.vision_model
        patches = torch.nn.functional.conv2d(image, w2d, stride=16).flatten(2).transpose(1, 2)
        x = hf.pre_layrnorm(patches + hf.embeddings.position_embedding.weight[1:])
        pooled = hf.post_layernorm(hf.encoder(inputs_embeds=x).last_hidden_state.mean(dim=1))
        reference = torch.nn.functional.normalize(clip.visual_projection(pooled), dim=-1)
        static = model.encode_video(image[:, None].expand(-1, 8, -1, -1, -1))
        moving = model.encode_video(frames(B=2, T=8, seed=1))
        as_image = model.encode_image(image)
        text_ids, text_mask = texts()
        text = model.encode_text(text_ids, text_mask)
    torch.testing.assert_close(static, reference, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(as_image, reference, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(moving, reference, atol=1e-2)
    # the text tower is CLIP's own: its features match transformers'
    hf_text = clip.text_projection(clip.text_model(input_ids=text_ids, attention_mask=text_mask).pooler_output)
    torch.testing.assert_close(text, torch.nn.functional.normalize(hf_text, dim=-1), atol=1e-5, rtol=1e-4)


def test_larger_frames_get_clips_position_grid_resized(tiny_clip):
    cfg, directory, clip = tiny_clip
    model = build_model(cfg.replace(image_size=96, clip_weights=str(directory)))  # 6x6 patches from CLIP's 4x4
    grid = model.vision_model.embeddings.position_embedding.weight.detach()
    assert grid.shape == (36, 64)
    clip_grid = clip.vision_model.embeddings.position_embedding.weight[1:].detach()
    torch.testing.assert_close(resize_position_grid(clip_grid, 36), grid)
    torch.testing.assert_close(resize_position_grid(clip_grid, 16), clip_grid)  # same grid: unchanged
    constant = torch.ones(16, 8)
    torch.testing.assert_close(resize_position_grid(constant, 64), torch.ones(64, 8))
    with pytest.raises(CheckpointError, match="not square"):
        resize_position_grid(clip_grid, 30)


def test_a_checkpoint_of_other_shapes_is_refused(tiny_clip, tmp_path):
    _, directory, _ = tiny_clip
    with pytest.raises(CheckpointError, match="tubelet_embedding"):
        load_clip(build_model(tiny(vocab_size=1000, patch_size=32)), directory)
    (tmp_path / "model.safetensors").write_bytes(b"")
    from safetensors.torch import save_file

    save_file({"text_projection.weight": torch.zeros(32, 64)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="not a CLIP vision checkpoint"):
        load_clip(build_model(tiny(vocab_size=1000)), tmp_path)


def test_a_few_steps_decrease_both_named_losses():
    """The family's objective (the shared video-text InfoNCE) on a fixed batch, with 50% masking."""
    torch.manual_seed(0)
    cfg = tiny(vocab_size=1000, mask_ratio=0.5)
    model = build_model(cfg).train()
    subtitle_ids, subtitle_mask = texts(B=4, seed=1)
    caption_ids, caption_mask = texts(B=4, seed=2)
    batch = {
        "frames_BTCHW": torch.randint(
            0, 256, (4, 8, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(3)
        ),
        "subtitle_ids": subtitle_ids,
        "subtitle_mask": subtitle_mask,
        "caption_ids": caption_ids,
        "caption_mask": caption_mask,
        "has_subtitle": torch.ones(4, dtype=torch.bool),
        "has_caption": torch.tensor([True, True, True, False]),
    }
    ctx = ObjectiveContext(
        rank=0, world_size=1, step=0, device=torch.device("cpu"), cfg=get_preset("longvideo-tiny-cpu"), model_config=cfg
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    history = []
    for _ in range(8):
        losses = VIDEO_TEXT(model, batch, ctx)
        assert set(losses) == {"subtitle", "caption"}
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    for name in ("subtitle", "caption"):
        assert history[-1][name] < 0.5 * history[0][name], (name, history)
