"""The DALL-E dVAE tokenizer: original layout, state-dict round trip, codes grid."""

import pytest
import torch

from train.vq import DalleEncoder, DalleTokenizer, dalle_encoder_config, load_dalle_encoder


def test_encoder_state_dict_has_dall_e_layout():
    keys = set(DalleEncoder(n_hid=16, n_blk_per_group=2, vocab_size=512).state_dict())
    # names of OpenAI's dall_e.encoder.Encoder
    for key in (
        "blocks.input.w",
        "blocks.input.b",
        "blocks.group_1.block_1.res_path.conv_1.w",
        "blocks.group_2.block_1.id_path.w",  # width change: 1x1 conv on the identity path
        "blocks.group_4.block_2.res_path.conv_4.b",
        "blocks.output.conv.w",
    ):
        assert key in keys
    assert "blocks.group_1.block_1.id_path.w" not in keys  # same width: identity
    full = DalleEncoder()
    assert full.blocks.output.conv.w.shape == (8192, 2048, 1, 1)
    assert sum(p.numel() for p in full.parameters()) == pytest.approx(53.8e6, rel=0.02)  # dall_e encoder


def test_round_trip_through_a_saved_state_dict(tmp_path):
    torch.manual_seed(0)
    encoder = DalleEncoder(n_hid=16, n_blk_per_group=1, vocab_size=8192)
    torch.save(encoder.state_dict(), tmp_path / "encoder.pt")
    loaded = load_dalle_encoder(tmp_path / "encoder.pt")
    assert dalle_encoder_config(loaded.state_dict()) == {"n_hid": 16, "n_blk_per_group": 1, "vocab_size": 8192}
    tokenizer = DalleTokenizer(loaded)
    frames = torch.rand(2, 3, 3, 32, 48)
    codes = tokenizer.encode(frames)
    assert codes.shape == (2, 3, 4, 6) and codes.dtype == torch.long
    assert 0 <= int(codes.min()) and int(codes.max()) < 8192
    assert torch.equal(codes, DalleTokenizer(encoder).encode(frames))
    assert len(codes.unique()) > 4  # a random encoder still spreads frames over many codes
    assert not any(p.requires_grad for p in tokenizer.parameters())
    tokenizer.train()
    assert not tokenizer.training


def test_bad_weights_and_frames_are_named(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_dalle_encoder(tmp_path / "missing.pt")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a DALL-E encoder"):
        load_dalle_encoder(tmp_path / "other.pt")
    tokenizer = DalleTokenizer(DalleEncoder(n_hid=16, n_blk_per_group=1, vocab_size=512))
    with pytest.raises(ValueError, match="divisible by 8"):
        tokenizer.encode(torch.rand(1, 1, 3, 30, 32))
