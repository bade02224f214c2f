"""Retrieval metrics against ranks worked out by hand; ties never help the model."""

import pytest
import torch

from train.metrics import (
    dual_softmax,
    multiple_choice_accuracy,
    retrieval_metrics,
    text_to_video_ranks,
    topk_accuracy,
    video_to_text_ranks,
)

# 4 texts x 3 videos; texts 0,1 belong to video 0, text 2 to video 1, text 3 to video 2
SIM = torch.tensor(
    [
        [0.9, 0.1, 0.2],  # text 0: own video 0 first                 -> t2v rank 1
        [0.3, 0.5, 0.4],  # text 1: video 0 is behind 1 and 2         -> rank 3
        [0.8, 0.7, 0.1],  # text 2: own video 1 behind video 0        -> rank 2
        [0.2, 0.6, 0.6],  # text 3: own video 2 ties with video 1     -> rank 1.5 (ranks 1 and 2 averaged)
    ]
)
OWNER = torch.tensor([0, 0, 1, 2])


def test_text_to_video_ranks_by_hand():
    assert text_to_video_ranks(SIM, OWNER).tolist() == [1, 3, 2, 1.5]


def test_video_to_text_ranks_take_the_best_own_text():
    # video 0 column [0.9,0.3,0.8,0.2]: its best text (0.9) is first -> 1
    # video 1 column [0.1,0.5,0.7,0.6]: own text 2 (0.7) is first -> 1
    # video 2 column [0.2,0.4,0.1,0.6]: own text 3 (0.6) is first -> 1
    assert video_to_text_ranks(SIM, OWNER).tolist() == [1, 1, 1]
    sim = SIM.clone()
    sim[1, 2] = 0.95  # now text 1 outranks text 3 on video 2
    assert video_to_text_ranks(sim, OWNER).tolist() == [1, 1, 2]


def test_video_to_text_conventions_differ_when_another_video_has_several_texts():
    # texts a, b belong to video 0, c to video 1, d to video 2; column of video 2 by hand:
    # a 0.8, b 0.7, c 0.6, d (own) 0.65
    sim = torch.tensor(
        [
            [0.9, 0.1, 0.8],  # a
            [0.2, 0.3, 0.7],  # b
            [0.1, 0.9, 0.6],  # c
            [0.3, 0.2, 0.65],  # d
        ]
    )
    owner = torch.tensor([0, 0, 1, 2])
    # all texts: a and b both beat d -> rank 3; CLIP4Clip: video 0 counts once (best 0.8) -> rank 2
    assert video_to_text_ranks(sim, owner, "all_texts").tolist() == [1, 1, 3]
    assert video_to_text_ranks(sim, owner).tolist() == [1, 1, 2]
    m = retrieval_metrics(sim, owner, dsl_scale=10.0)
    assert m["v2t"]["MnR"] == pytest.approx(4 / 3) and m["v2t_all_texts"]["MnR"] == pytest.approx(5 / 3)
    assert m["v2t_convention"].startswith("best_text_per_video")
    assert {"v2t_dsl", "v2t_all_texts_dsl"} <= set(m)
    with pytest.raises(ValueError, match="convention"):
        video_to_text_ranks(sim, owner, "nope")


def test_one_text_per_video_reports_one_v2t():
    sim = torch.tensor([[0.9, 0.1], [0.2, 0.3]])
    m = retrieval_metrics(sim, torch.tensor([0, 1]))
    assert "v2t_all_texts" not in m and m["v2t"]["R@1"] == 100.0


def test_summary_numbers():
    m = retrieval_metrics(SIM, OWNER)
    # text 3's tie counts half towards R@1: (1 + 0 + 0 + 0.5) / 4
    assert m["t2v"] == {"R@1": 37.5, "R@5": 100.0, "R@10": 100.0, "MdR": 1.75, "MnR": 1.875}
    assert m["v2t"]["R@1"] == 100.0 and m["v2t"]["MnR"] == 1.0
    assert "t2v_dsl" not in m


def test_dual_softmax_reranks_a_hub_video():
    # video 0 is a "hub" close to every text; dual softmax discounts it
    sim = torch.tensor([[0.90, 0.85], [0.95, 0.20]])
    owner = torch.tensor([1, 0])
    plain = retrieval_metrics(sim, owner, dsl_scale=None)
    dsl = retrieval_metrics(sim, owner, dsl_scale=100.0)
    assert plain["t2v"]["R@1"] == 50.0  # text 0 ranks the hub first
    assert dsl["t2v_dsl"]["R@1"] == 100.0
    prior = torch.softmax(100 * sim, dim=0)
    assert torch.allclose(dual_softmax(sim, 100.0, 0), sim * prior)


def test_every_video_needs_a_text_for_v2t():
    with pytest.raises(ValueError):
        video_to_text_ranks(SIM, torch.tensor([0, 0, 1, 1]))


def test_multiple_choice_accuracy():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.5, 0.2, 0.1], [0.0, 0.1, 0.2]])
    assert multiple_choice_accuracy(scores, torch.tensor([1, 0, 0])) == pytest.approx(200 / 3)


@pytest.mark.parametrize("n", [5, 100, 500])
def test_constant_similarities_score_as_a_guess(n):
    m = retrieval_metrics(torch.zeros(n, n), torch.arange(n))
    for direction in ("t2v", "v2t"):
        assert m[direction]["R@1"] == pytest.approx(100 / n)
        assert m[direction]["R@5"] == pytest.approx(100 * min(5, n) / n)
        assert m[direction]["R@10"] == pytest.approx(100 * min(10, n) / n)
        assert m[direction]["MdR"] == pytest.approx((n + 1) / 2) and m[direction]["MnR"] == pytest.approx((n + 1) / 2)
    assert m["ties"].startswith("expected over random orders")


def test_constant_similarities_with_several_texts_per_video():
    # 3 videos x 2 texts: a video's own second text is a right answer, not a competitor
    m = retrieval_metrics(torch.ones(6, 3), torch.tensor([0, 0, 1, 1, 2, 2]))
    assert m["t2v"]["R@1"] == pytest.approx(100 / 3) and m["t2v"]["MnR"] == pytest.approx(2.0)
    assert m["v2t"]["R@1"] == pytest.approx(100 / 3)
    # all texts: 4 other texts tie with the best own one -> rank 1 + 4/2 = 3, R@1 = 1/5
    assert m["v2t_all_texts"]["MnR"] == pytest.approx(3.0) and m["v2t_all_texts"]["R@1"] == pytest.approx(20.0)


def test_a_random_model_sits_at_chance_on_500_pairs():
    torch.manual_seed(0)
    text, video = (torch.nn.functional.normalize(torch.randn(500, 64), dim=-1) for _ in range(2))
    m = retrieval_metrics(text @ video.T, torch.arange(500))
    for direction in ("t2v", "v2t"):
        # chance: R@k = k / 5 percent, median rank 250.5; binomial spread of 500 queries
        assert m[direction]["R@1"] <= 1.2
        assert 0.2 <= m[direction]["R@10"] <= 4.5
        assert 200 <= m[direction]["MdR"] <= 300 and 220 <= m[direction]["MnR"] <= 280


def test_a_random_model_in_bf16_is_not_lifted_by_its_ties():
    # bf16 embeddings of a collapsed model: many similarities equal, which counted for it before
    torch.manual_seed(0)
    base = torch.randn(1, 64)
    feats = (base + 1e-3 * torch.randn(500, 64)).bfloat16()
    sim = (feats @ feats.T).float()  # texts = videos, all nearly the same vector
    m = retrieval_metrics(sim, torch.arange(500))
    assert m["t2v"]["R@1"] < 5.0


def test_ties_for_the_top_choice_share_the_question():
    scores = torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.5], [0.2, 0.9, 0.9, 0.0, 0.1]])
    # five equal options: 1/5 right; two tied at the top with the answer: 1/2
    assert multiple_choice_accuracy(scores, torch.tensor([0, 2])) == pytest.approx(100 * (0.2 + 0.5) / 2)
    assert topk_accuracy(scores, torch.tensor([0, 2]), 2) == pytest.approx(100 * (0.4 + 1.0) / 2)
