"""Retrieval metrics: R@1/5/10, median and mean rank, with and without dual-softmax; multiple choice.

Similarities are (num_texts, num_videos). Ranks are 1-based. Ties cannot help a model: every number
is the expectation over a uniformly random order of the candidates that score exactly as the right one
(``Ranks``). A query with ``b`` strictly better candidates and ``t`` tied with the right one (itself
included) has rank ``b + (t + 1) / 2`` (the average of the tied ranks) and counts ``clamp(k - b, 0, t)
/ t`` towards R@k. A model whose scores are all equal gets R@1 = 100 / N and a median rank of (N + 1) / 2
on N candidates, as a model that guesses.

Video-to-text with several texts per video (MSVD, VATEX, MSR-VTT's full caption sets) has two
conventions, both reported where they differ:

- ``v2t`` (CLIP4Clip's ``tensor_video_to_text_sim``, what the public benchmark tables use): each video's
  texts form one candidate scored by its best text; a video's rank is that of its own best text among
  the best texts of every video;
- ``v2t_all_texts``: every text is a candidate of its own; a video's rank is that of its best own text
  among all texts (so another video's several captions each count as a competitor).
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Ranks(NamedTuple):
    """Per query: candidates scoring strictly above the right one, and those scoring exactly as it
    (the right one included, so >= 1)."""

    better: torch.Tensor
    tied: torch.Tensor

    def mean_rank(self) -> torch.Tensor:
        """The rank averaged over the orders of the tied candidates: better + (tied + 1) / 2."""
        return self.better.double() + (self.tied.double() + 1) / 2

    def recall(self, k: int) -> torch.Tensor:
        """Per query, the probability that the right one is among the first ``k`` when ties are ordered
        at random: clamp(k - better, 0, tied) / tied."""
        return (k - self.better.double()).clamp(min=0).minimum(self.tied.double()) / self.tied.double()

    def tolist(self) -> list:
        """The mean ranks as a list (integers where no tie splits them)."""
        return [int(r) if r == int(r) else r for r in self.mean_rank().tolist()]


def ranks_of_targets(scores_QC: torch.Tensor, target_Q: torch.Tensor) -> Ranks:
    """The ``Ranks`` of each row's candidate ``target_Q[q]`` among the row's candidates."""
    target = scores_QC.gather(1, target_Q.to(scores_QC.device)[:, None])
    return Ranks((scores_QC > target).sum(dim=1).cpu(), (scores_QC == target).sum(dim=1).cpu())


def text_to_video_ranks(sim_TV: torch.Tensor, video_of_text_T: torch.Tensor) -> Ranks:
    """(T,) rank of each text's own video among all videos."""
    return ranks_of_targets(sim_TV, video_of_text_T)


V2T_CONVENTIONS = ("best_text_per_video", "all_texts")


def best_text_per_video(sim_TV: torch.Tensor, video_of_text_T: torch.Tensor) -> torch.Tensor:
    """(V owners, V videos): entry [i, j] is the best similarity of any text of video i to video j."""
    num_videos = sim_TV.shape[1]
    counts_V = torch.bincount(video_of_text_T, minlength=num_videos)
    if counts_V.shape[0] != num_videos or not bool((counts_V > 0).all()):
        raise ValueError("every video needs at least one text for video-to-text retrieval")
    best_VV = torch.full((num_videos, num_videos), float("-inf"), dtype=sim_TV.dtype, device=sim_TV.device)
    index_TV = video_of_text_T.to(sim_TV.device)[:, None].expand_as(sim_TV)
    return best_VV.scatter_reduce_(0, index_TV, sim_TV, "amax")


def video_to_text_ranks(
    sim_TV: torch.Tensor, video_of_text_T: torch.Tensor, convention: str = "best_text_per_video"
) -> Ranks:
    """(V,) rank of each video's best own text: among the best texts of every video
    (``best_text_per_video``, CLIP4Clip) or among all texts (``all_texts``); see the module docstring.
    The video's other texts are right answers too: they never count against it, tied or not."""
    if convention not in V2T_CONVENTIONS:
        raise ValueError(f"unknown video-to-text convention {convention!r}; expected one of {V2T_CONVENTIONS}")
    best_VV = best_text_per_video(sim_TV, video_of_text_T)
    best_own_V = best_VV.diagonal()
    if convention == "best_text_per_video":
        return ranks_of_targets(best_VV.T, torch.arange(best_VV.shape[0]))
    owner = video_of_text_T.to(sim_TV.device)
    other_TV = owner[:, None] != torch.arange(sim_TV.shape[1], device=sim_TV.device)[None, :]
    better = ((sim_TV > best_own_V[None, :]) & other_TV).sum(dim=0)
    tied = ((sim_TV == best_own_V[None, :]) & other_TV).sum(dim=0) + 1
    return Ranks(better.cpu(), tied.cpu())


def summarize_ranks(ranks: Ranks) -> dict:
    mean_ranks = ranks.mean_rank()
    return {
        "R@1": 100.0 * float(ranks.recall(1).mean()),
        "R@5": 100.0 * float(ranks.recall(5).mean()),
        "R@10": 100.0 * float(ranks.recall(10).mean()),
        "MdR": float(mean_ranks.quantile(0.5)),  # numpy's median: the mean of the middle two for even counts
        "MnR": float(mean_ranks.mean()),
    }


def dual_softmax(sim_TV: torch.Tensor, scale: float, prior_dim: int) -> torch.Tensor:
    """Dual softmax inference (CAMoE, Cheng et al. 2021): each similarity is weighted by a softmax over
    the other direction's candidates, ``sim * softmax(scale * sim, dim=prior_dim)``. For text-to-video
    ranking (along videos) the prior runs over texts (``prior_dim=0``), and the other way round."""
    return sim_TV * torch.softmax(scale * sim_TV, dim=prior_dim)


def retrieval_metrics(sim_TV: torch.Tensor, video_of_text_T: torch.Tensor, dsl_scale: float | None = None) -> dict:
    """{"t2v": {...}, "v2t": {...}, "v2t_convention": ...}; where a video has several texts also
    "v2t_all_texts"; with ``dsl_scale`` the same after dual softmax ("t2v_dsl", "v2t_dsl", ...)."""
    sim_TV = sim_TV.double()
    several_texts = sim_TV.shape[0] > sim_TV.shape[1]  # (every video has a text, checked below)
    out = {}
    variants = [("", sim_TV, sim_TV)]
    if dsl_scale is not None:
        variants.append(("_dsl", dual_softmax(sim_TV, dsl_scale, 0), dual_softmax(sim_TV, dsl_scale, 1)))
    for suffix, for_t2v, for_v2t in variants:
        out["t2v" + suffix] = summarize_ranks(text_to_video_ranks(for_t2v, video_of_text_T))
        out["v2t" + suffix] = summarize_ranks(video_to_text_ranks(for_v2t, video_of_text_T))
        if several_texts:
            out["v2t_all_texts" + suffix] = summarize_ranks(video_to_text_ranks(for_v2t, video_of_text_T, "all_texts"))
    out["v2t_convention"] = (
        "best_text_per_video: each video's best own text ranked among every video's best text (CLIP4Clip)"
    )
    out["ties"] = TIES
    return out


TIES = "expected over random orders of tied candidates: rank = better + (tied + 1) / 2, R@k fractional"


def multiple_choice_accuracy(scores_QC: torch.Tensor, answers_Q: torch.Tensor) -> float:
    """Percent of questions whose highest-scoring candidate is the answer (a tie for the top shares
    the question among the tied candidates)."""
    return topk_accuracy(scores_QC, answers_Q, 1)


def topk_accuracy(scores_VC: torch.Tensor, labels_V: torch.Tensor, k: int) -> float:
    """Percent of rows whose label is among the ``k`` highest scores (all of them when k >= C); ties
    with the label are ordered at random, as in the retrieval ranks above."""
    return 100.0 * float(ranks_of_targets(scores_VC, labels_V).recall(k).mean())
