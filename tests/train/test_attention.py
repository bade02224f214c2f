"""The fast hierarchical temporal attention against a straightforward dense-mask reference (VidLA section 4).

The reference below is the paper's math written out: explicit (TN x TN) and (1+UV+TN)^2 additive masks and
softmax(QK^T / sqrt(d_head) + M) V. It is also what benchmarks/bench_attention.py measures against.
"""

from __future__ import annotations

import pytest
import torch

from train.model import PRESETS, build_model
from train.model.attention import TokenLayout, global_token_mask

NEG_INF = float("-inf")


def local_temporal_mask(layout: TokenLayout) -> torch.Tensor:
    """M~ (TN x TN): M~[i, j] = 0 if mod(|j - i|, N) == 0 else -inf (same spatial position, any frame)."""
    TN, N = layout.num_frames * layout.num_patches, layout.num_patches
    i, j = torch.arange(TN)[:, None], torch.arange(TN)[None, :]
    return torch.where((j - i).abs() % N == 0, 0.0, NEG_INF)


def global_mask(layout: TokenLayout) -> torch.Tensor:
    """M ((1+UV+TN)^2) = vertical stack of [M^CLS; M^MST; M^PATCH], columns [CLS, MST, patches]:

    - M^CLS (1 x L): all 0, [CLS] attends to everything.
    - M^MST (UV x L) = [-inf * 1, M~^{MST,self}, M~^{MST,patch}] with
        M~^{MST,self}[i, j]  = 0 if floor(i/V) >= floor(j/V) else -inf   (levels <= own level)
        M~^{MST,patch}[i, j] = 0 if mod(floor(j/N), r^floor(i/V)) == 0 else -inf   (every r^u-th frame)
    - M^PATCH (TN x L) = [-inf (CLS column), 0 (MST columns), M~^G] with
        M~^G[i, j] = 0 if floor(i/N) == floor(j/N) else -inf   (same frame)
      The paper's formula writes a zero block over the [CLS] column too, but its text says patch tokens do
      not attend to [CLS] ("nothing but [CLS] attends to [CLS]"); the text is what is implemented.
    """
    T, N, U, V, r = (
        layout.num_frames,
        layout.num_patches,
        layout.num_levels,
        layout.tokens_per_level,
        layout.temporal_scale,
    )
    UV, TN = U * V, T * N
    L = 1 + UV + TN
    mask = torch.full((L, L), NEG_INF)
    mask[0, :] = 0.0
    for i in range(UV):
        for j in range(UV):
            if i // V >= j // V:
                mask[1 + i, 1 + j] = 0.0
        for j in range(TN):
            if (j // N) % (r ** (i // V)) == 0:
                mask[1 + i, 1 + UV + j] = 0.0
    for i in range(TN):
        mask[1 + UV + i, 1 : 1 + UV] = 0.0
        for j in range(TN):
            if i // N == j // N:
                mask[1 + UV + i, 1 + UV + j] = 0.0
    return mask


def masked_attention(x_BLD: torch.Tensor, proj, mask_LL: torch.Tensor) -> torch.Tensor:
    """MMSA(x, M) = softmax(Q K^T / sqrt(d_head) + M) V, heads split, then the output projection."""
    B, L, D = x_BLD.shape
    H = proj.num_heads

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, L, H, D // H).transpose(1, 2)

    q, k, v = heads(proj.q_proj(x_BLD)), heads(proj.k_proj(x_BLD)), heads(proj.v_proj(x_BLD))
    scores = q @ k.transpose(-1, -2) / (D // H) ** 0.5 + mask_LL
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(B, L, D)
    return proj.out_proj(out)


def dense_layer(layer, x_BLD: torch.Tensor, layout: TokenLayout, masks) -> torch.Tensor:
    """Equations 1 and 2 with dense masks."""
    local_mask, full_mask = masks
    first_patch = 1 + layout.num_mst
    if layer.temporal_attn is not None:
        patches = x_BLD[:, first_patch:]
        patches = patches + masked_attention(layer.temporal_norm(patches), layer.temporal_attn, local_mask)
        x_BLD = torch.cat([x_BLD[:, :first_patch], patches], dim=1)
    x_BLD = x_BLD + masked_attention(layer.layer_norm1(x_BLD), layer.self_attn, full_mask)
    return x_BLD + layer.mlp(layer.layer_norm2(x_BLD))


def dense_video_forward(vision, frames_BTCHW: torch.Tensor) -> torch.Tensor:
    """All final tokens (B, L, D) of the video tower computed with dense masks."""
    x_BLD, layout = vision.embed(frames_BTCHW)
    masks = (local_temporal_mask(layout).to(x_BLD.device), global_mask(layout).to(x_BLD.device))
    for layer in vision.encoder.layers:
        x_BLD = dense_layer(layer, x_BLD, layout, masks)
    return x_BLD


def fast_video_forward(vision, frames_BTCHW: torch.Tensor) -> torch.Tensor:
    x_BLD, layout = vision.embed(frames_BTCHW)
    return vision.encoder.forward_video(x_BLD, layout)


def randomized(model):
    """Perturb every parameter so that zero-inits (temporal projection, temporal embedding) are active."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def tiny(**changes):
    return PRESETS["vidla-tiny-cpu"]().replace(**changes)


CASES = {
    # (image_size, patch) -> N ; T ; U-V-r ; switches
    "default-N16-T4-3-4-2": tiny(),
    "N4-T6-2-2-3": tiny(image_size=32, num_frames=6, num_levels=2, tokens_per_level=2, temporal_scale=3),
    "N9-T5-3-1-2": tiny(image_size=48, num_frames=5, num_levels=3, tokens_per_level=1, temporal_scale=2),
    "N4-T1": tiny(image_size=32, num_frames=1),
    "no-mst": tiny(use_mst=False),
    "no-hierarchy": tiny(use_hierarchy=False),
    "no-local": tiny(use_local_temporal=False),
    "no-mst-no-local": tiny(use_mst=False, use_hierarchy=False, use_local_temporal=False),
    "tube-mask-50": tiny(tube_mask_ratio=0.5),
    "grad-checkpointing": tiny(grad_checkpointing=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_matches_dense_reference_forward_and_gradients(name):
    cfg = CASES[name]
    torch.manual_seed(0)
    vision = randomized(build_model(cfg).vision_model).train()
    frames = torch.randn(2, cfg.num_frames, 3, cfg.image_size, cfg.image_size)

    def run(forward):
        vision.zero_grad()
        frames_in = frames.clone().requires_grad_(True)
        torch.manual_seed(1)  # the same tube mask for both
        out = forward(vision, frames_in)
        weights = torch.linspace(-1, 1, out.numel()).view_as(out)
        (out * weights).sum().backward()
        grads = {n: p.grad.clone() for n, p in vision.named_parameters() if p.grad is not None}
        return out.detach(), frames_in.grad, grads

    fast_out, fast_frame_grad, fast_grads = run(fast_video_forward)
    ref_out, ref_frame_grad, ref_grads = run(dense_video_forward)
    torch.testing.assert_close(fast_out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast_frame_grad, ref_frame_grad, rtol=1e-4, atol=1e-5)
    assert fast_grads.keys() == ref_grads.keys()
    for param_name, ref in ref_grads.items():
        # fp32 summation order differs; tolerance relative to each gradient's own scale (key biases have
        # an analytically zero gradient, so only their noise is compared)
        scale = max(1.0, ref.abs().max().item())
        torch.testing.assert_close(
            fast_grads[param_name], ref, rtol=1e-4, atol=1e-5 * scale, msg=lambda m, name=param_name: f"{name}: {m}"
        )


def test_reference_mask_matches_figure_3_toy_example():
    """Figure 3: N=4, T=4, U=2, V=1, r=2. [MST]-1 sees frames 0 and 2 only; nobody but [CLS] sees [CLS]."""
    mask = global_mask(TokenLayout(num_frames=4, num_patches=4, num_levels=2, tokens_per_level=1, temporal_scale=2))
    visible = mask == 0
    assert visible[0].all()
    assert not visible[1:, 0].any()
    mst0, mst1 = visible[1], visible[2]
    assert mst0[1] and not mst0[2] and mst0[3:].all()
    assert mst1[1] and mst1[2]
    assert [bool(mst1[3 + 4 * t]) for t in range(4)] == [True, False, True, False]
    patch_of_frame_1 = visible[3 + 4 * 1 + 2]
    assert patch_of_frame_1[1:3].all() and patch_of_frame_1[3:].view(4, 4).all(dim=1).tolist() == [
        False,
        True,
        False,
        False,
    ]


def one_layer_tokens(cfg, frames):
    vision = randomized(build_model(cfg.replace(vision_layers=1)).vision_model).eval()
    with torch.no_grad():
        return fast_video_forward(vision, frames)


def test_mst_level_ignores_frames_outside_its_stride():
    cfg = tiny(num_frames=4, use_local_temporal=False)  # U=3, V=4, r=2: level 1 sees frames 0, 2; level 2 frame 0
    torch.manual_seed(0)
    frames = torch.randn(1, 4, 3, cfg.image_size, cfg.image_size)
    perturbed = frames.clone()
    perturbed[:, 1] += 1.0
    torch.manual_seed(2)
    before = one_layer_tokens(cfg, frames)
    torch.manual_seed(2)
    after = one_layer_tokens(cfg, perturbed)
    V, N = cfg.tokens_per_level, cfg.num_patches
    level = [slice(1 + u * V, 1 + (u + 1) * V) for u in range(3)]
    assert not torch.allclose(before[:, level[0]], after[:, level[0]])  # level 0 sees frame 1
    torch.testing.assert_close(before[:, level[1]], after[:, level[1]], rtol=0, atol=0)
    torch.testing.assert_close(before[:, level[2]], after[:, level[2]], rtol=0, atol=0)
    patches_before = before[:, 1 + 3 * V :].view(1, 4, N, -1)
    patches_after = after[:, 1 + 3 * V :].view(1, 4, N, -1)
    for t in (0, 2, 3):  # other frames' patches see only their own frame and the (layer-0) [MST]
        torch.testing.assert_close(patches_before[:, t], patches_after[:, t], rtol=0, atol=0)
    assert not torch.allclose(patches_before[:, 1], patches_after[:, 1])
    assert not torch.allclose(before[:, 0], after[:, 0])  # [CLS] sees everything


def test_mst_level_ignores_higher_levels_in_one_layer():
    cfg = tiny()
    torch.manual_seed(0)
    vision = randomized(build_model(cfg.replace(vision_layers=1)).vision_model).eval()
    x, layout = vision.embed(torch.randn(1, cfg.num_frames, 3, cfg.image_size, cfg.image_size))
    V = cfg.tokens_per_level
    bumped = x.clone()
    bumped[:, 1 + 2 * V] += 1.0  # first [MST] of level 2
    with torch.no_grad():
        before, after = vision.encoder.forward_video(x, layout), vision.encoder.forward_video(bumped, layout)
    torch.testing.assert_close(before[:, 1 : 1 + 2 * V], after[:, 1 : 1 + 2 * V], rtol=0, atol=0)


@pytest.mark.parametrize("name", ["default-N16-T4-3-4-2", "no-mst", "no-hierarchy", "no-local"])
def test_nothing_but_cls_attends_to_cls(name):
    cfg = CASES[name]
    torch.manual_seed(0)
    vision = randomized(build_model(cfg).vision_model).eval()
    x, layout = vision.embed(torch.randn(2, cfg.num_frames, 3, cfg.image_size, cfg.image_size))
    bumped = x.clone()
    bumped[:, 0] += 3.0
    with torch.no_grad():
        before, after = vision.encoder.forward_video(x, layout), vision.encoder.forward_video(bumped, layout)
    torch.testing.assert_close(before[:, 1:], after[:, 1:], rtol=0, atol=0)
    assert not torch.allclose(before[:, 0], after[:, 0])


def test_local_temporal_attention_mixes_only_the_same_spatial_position():
    cfg = tiny(use_mst=False)
    torch.manual_seed(0)
    layer = randomized(build_model(cfg).vision_model).encoder.layers[0]
    B, T, N, D = 1, cfg.num_frames, cfg.num_patches, cfg.vision_width
    patches = torch.randn(B, T, N, D)
    q, k, v = layer.temporal_attn.qkv(patches)
    from train.model.attention import local_temporal_attention

    out = local_temporal_attention(q, k, v)
    v2 = v.clone()
    v2[:, 2, 5] += 1.0  # frame 2, position 5
    out2 = local_temporal_attention(q, k, v2)
    changed = (out2 - out).abs().amax(dim=(-1, -2)) > 0  # (B, T, N)
    assert changed[0, :, 5].all() and changed.sum() == T


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["default-N16-T4-3-4-2", "no-mst", "no-hierarchy", "tube-mask-50"])
def test_fast_matches_dense_reference_on_cuda_fp32_and_bf16(name):
    """CUDA's flash / memory-efficient kernels: fp32 tight, bf16 (autocast) within bf16 precision."""
    cfg = CASES[name].replace(image_size=224, patch_size=16, num_frames=8)  # N=196 as in ViT-B/16
    torch.manual_seed(0)
    vision = randomized(build_model(cfg).vision_model).cuda().train()
    frames = torch.randn(2, cfg.num_frames, 3, cfg.image_size, cfg.image_size, device="cuda")
    torch.manual_seed(1)
    ref = dense_video_forward(vision, frames)
    torch.manual_seed(1)
    torch.testing.assert_close(fast_video_forward(vision, frames), ref, rtol=1e-4, atol=1e-4)
    torch.manual_seed(1)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        fast_bf16 = fast_video_forward(vision, frames)
    error = (fast_bf16.float() - ref).abs().max() / ref.abs().max()
    assert error < 3e-2, float(error)


def test_both_local_temporal_implementations_match_the_dense_mask():
    """The CUDA (batched matmul) and CPU (SDPA) implementations, forward and gradients, against M~."""
    from train.model.attention import local_temporal_attention_matmul, local_temporal_attention_sdpa

    torch.manual_seed(0)
    B, T, N, H, hd = 2, 5, 6, 3, 4
    qkv = torch.randn(3, B, T, N, H, hd)
    layout = TokenLayout(num_frames=T, num_patches=N, num_levels=0, tokens_per_level=0, temporal_scale=1)

    def dense(q, k, v):  # (B, T, N, H, hd) -> heads first, sequence TN frame-major
        def seq(x):
            return x.reshape(B, T * N, H, hd).transpose(1, 2)

        scores = seq(q) @ seq(k).transpose(-1, -2) / hd**0.5 + local_temporal_mask(layout)
        return (scores.softmax(-1) @ seq(v)).transpose(1, 2).reshape(B, T, N, H, hd)

    results = []
    for fn in (dense, local_temporal_attention_matmul, local_temporal_attention_sdpa):
        inputs = qkv.clone().requires_grad_(True)
        out = fn(*inputs)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        results.append((out.detach(), inputs.grad))
    for out, grad in results[1:]:
        torch.testing.assert_close(out, results[0][0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-5, atol=1e-6)


def test_mst_reference_frames_keep_each_level_on_the_same_moments():
    # as trained (reference = T): the paper's every r**u-th frame
    same = TokenLayout(8, 2, 3, 1, 2, reference_frames=8).level_frames(torch.device("cpu"))
    assert torch.equal(same, TokenLayout(8, 2, 3, 1, 2).level_frames(torch.device("cpu")))
    assert [torch.nonzero(r).flatten().tolist() for r in same] == [list(range(8)), [0, 2, 4, 6], [0, 4]]
    # a 12-frame model run on 32 frames: level 0 every frame; level 2 saw frames 0, 4, 8 of 12 (centres at
    # 0.5/12, 4.5/12, 8.5/12 of the clip), now the 32-frame frames nearest those moments: 1, 12, 22
    layout = TokenLayout(32, 2, 3, 1, 2, reference_frames=12)
    frames = [torch.nonzero(r).flatten().tolist() for r in layout.level_frames(torch.device("cpu"))]
    assert frames == [list(range(32)), [1, 6, 12, 17, 22, 28], [1, 12, 22]]
    # and the attention mask follows them: level 2's [MST] (row 3) sees the patches of those frames only
    mask = global_token_mask(layout, torch.device("cpu"))
    patch_frames = torch.nonzero(mask[3, 1 + 3 :]).flatten() // 2
    assert sorted(set(patch_frames.tolist())) == [1, 12, 22]
