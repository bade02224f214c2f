"""Masking statistics: VIMPAC's block masking against its table 9, BEiT blockwise masking at E-ViLM's 40%."""

import pytest
import torch

from train.masking import block_mask_3d, blockwise_mask_2d, blockwise_mask_frames, expected_block_mask_ratio

# VIMPAC appendix table 9: induced masking ratio (%) for (frames, token map side) and 4..8 blocks.
VIMPAC_TABLE_9 = {
    (5, 16): (11.9, 14.5, 17.0, 19.4, 21.7),
    (5, 32): (10.6, 13.1, 15.2, 17.5, 19.5),
    (10, 16): (10.4, 12.8, 15.0, 17.1, 19.2),
    (10, 32): (9.3, 11.4, 13.4, 15.4, 17.2),
}


@pytest.mark.parametrize("shape", sorted(VIMPAC_TABLE_9))
def test_expected_block_ratio_reproduces_vimpac_table_9(shape):
    T, side = shape
    for blocks, paper in zip(range(4, 9), VIMPAC_TABLE_9[shape]):
        assert abs(100 * expected_block_mask_ratio(T, side, side, blocks) - paper) < 1.0, (shape, blocks)


@pytest.mark.parametrize("blocks", [1, 2, 3, 4, 5])
def test_sampled_block_masks_match_the_expected_ratio(blocks):
    torch.manual_seed(blocks)
    mask = block_mask_3d(3000, 5, 16, 16, blocks)
    assert mask.shape == (3000, 5, 16, 16) and mask.dtype == torch.bool
    assert abs(mask.float().mean().item() - expected_block_mask_ratio(5, 16, 16, blocks)) < 0.005
    if blocks == 5:  # the paper's default: 5 blocks on 5 x 16 x 16 tokens mask 14.5%
        assert abs(100 * mask.float().mean().item() - 14.5) < 1.0


def test_block_mask_is_a_union_of_bounded_cuboids():
    torch.manual_seed(0)
    T, H, W = 6, 8, 10
    for mask in block_mask_3d(200, T, H, W, 1):
        t, h, w = mask.nonzero().unbind(1)
        extent = (t.max() - t.min() + 1, h.max() - h.min() + 1, w.max() - w.min() + 1)
        assert int(mask.sum()) == extent[0] * extent[1] * extent[2]  # one solid cuboid
        assert extent[0] <= T * 2 // 3 and extent[1] <= H // 2 and extent[2] <= W // 2


def test_block_mask_follows_the_generator():
    a = block_mask_3d(4, 5, 8, 8, 3, generator=torch.Generator().manual_seed(1))
    b = block_mask_3d(4, 5, 8, 8, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        block_mask_3d(0, 5, 8, 8, 3)


@pytest.mark.parametrize("side", [8, 14, 16])
def test_blockwise_mask_hits_forty_percent_in_blocks(side):
    gen = torch.Generator().manual_seed(side)
    masks = torch.stack([blockwise_mask_2d(side, side, 0.4, generator=gen) for _ in range(100)])
    assert (masks.sum((1, 2)) == round(0.4 * side * side)).all()
    # blockwise, not i.i.d.: a masked patch has far more masked 4-neighbours than 40%
    m = masks.float()
    right = (m[:, :, 1:] * m[:, :, :-1]).sum() / m[:, :, :-1].sum()
    assert right > 0.6


def test_blockwise_mask_frames_are_independent_and_checked():
    torch.manual_seed(0)
    masks = blockwise_mask_frames(2, 4, 8, 8, 0.4)
    assert masks.shape == (2, 4, 8, 8)
    assert (masks.sum((2, 3)) == 26).all()
    assert not torch.equal(masks[0, 0], masks[0, 1])
    with pytest.raises(ValueError):
        blockwise_mask_2d(8, 8, 1.0)


def test_blocks_for_ratio_picks_the_papers_bold_counts():
    from train.masking import blocks_for_ratio

    # VIMPAC table 9 in bold: 5 blocks at 5 x 128^2 and 10 x 128^2, 6 at 5 x 256^2, 7 at 10 x 256^2
    assert blocks_for_ratio(5, 16, 16) == 5
    assert blocks_for_ratio(5, 32, 32) == 6
    assert blocks_for_ratio(10, 16, 16) == 6
    assert blocks_for_ratio(10, 32, 32) == 7
