"""Retrieval metrics: R@1/5/10, median and mean rank, with and without dual-softmax; multiple choice.

Similarities are (num_texts, num_videos). Ranks are 1-based; a tie with the right answer counts in
its favour (rank = 1 + number of strictly better candidates).
"""

from __future__ import annotations

import torch


def text_to_video_ranks(sim_TV: torch.Tensor, video_of_text_T: torch.Tensor) -> torch.Tensor:
    """(T,) rank of each text's own video among all videos."""
    target_T = sim_TV.gather(1, video_of_text_T[:, None])
    return (sim_TV > target_T).sum(dim=1) + 1


def video_to_text_ranks(sim_TV: torch.Tensor, video_of_text_T: torch.Tensor) -> torch.Tensor:
    """(V,) rank of the best-placed of each video's texts among all texts (videos with several
    captions, as in MSVD and VATEX, count once)."""
    num_videos = sim_TV.shape[1]
    own_TV = video_of_text_T[:, None] == torch.arange(num_videos, device=sim_TV.device)[None, :]
    if not bool(own_TV.any(dim=0).all()):
        raise ValueError("every video needs at least one text for video-to-text retrieval")
    best_own_V = sim_TV.masked_fill(~own_TV, float("-inf")).max(dim=0).values
    return (sim_TV > best_own_V[None, :]).sum(dim=0) + 1


def summarize_ranks(ranks: torch.Tensor) -> dict:
    ranks = ranks.double()
    return {
        "R@1": 100.0 * float((ranks <= 1).double().mean()),
        "R@5": 100.0 * float((ranks <= 5).double().mean()),
        "R@10": 100.0 * float((ranks <= 10).double().mean()),
        "MdR": float(ranks.quantile(0.5)),  # numpy's median: the mean of the middle two for even counts
        "MnR": float(ranks.mean()),
    }


def dual_softmax(sim_TV: torch.Tensor, scale: float, prior_dim: int) -> torch.Tensor:
    """Dual softmax inference (CAMoE, Cheng et al. 2021): each similarity is weighted by a softmax over
    the other direction's candidates, ``sim * softmax(scale * sim, dim=prior_dim)``. For text-to-video
    ranking (along videos) the prior runs over texts (``prior_dim=0``), and the other way round."""
    return sim_TV * torch.softmax(scale * sim_TV, dim=prior_dim)


def retrieval_metrics(
    sim_TV: torch.Tensor, video_of_text_T: torch.Tensor, dsl_scale: float | None = None
) -> dict:
    """{"t2v": {...}, "v2t": {...}} and, with ``dsl_scale``, also {"t2v_dsl", "v2t_dsl"}."""
    sim_TV = sim_TV.double()
    out = {
        "t2v": summarize_ranks(text_to_video_ranks(sim_TV, video_of_text_T)),
        "v2t": summarize_ranks(video_to_text_ranks(sim_TV, video_of_text_T)),
    }
    if dsl_scale is not None:
        out["t2v_dsl"] = summarize_ranks(
            text_to_video_ranks(dual_softmax(sim_TV, dsl_scale, 0), video_of_text_T)
        )
        out["v2t_dsl"] = summarize_ranks(
            video_to_text_ranks(dual_softmax(sim_TV, dsl_scale, 1), video_of_text_T)
        )
    return out


def multiple_choice_accuracy(scores_QC: torch.Tensor, answers_Q: torch.Tensor) -> float:
    """Percent of questions whose highest-scoring candidate is the answer."""
    return 100.0 * float((scores_QC.argmax(dim=1) == answers_Q).double().mean())
