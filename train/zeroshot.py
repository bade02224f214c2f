"""Zero-shot video classification (VidLA appendix D, table 10), as CLIP does it for images.

Every class name goes through each prompt template ("a video of a person {}."); a class's embedding is
the re-normalised mean of its prompts' unit-norm text embeddings. A video is predicted as the class
whose embedding is closest; the JSON reports top-1 and top-5 accuracy (percent). A fusion model
(E-ViLM), which scores text-video pairs, ranks classes by the mean score of their prompts.

    python -m train eval --checkpoint RUN --zero-shot kinetics400/validate.csv --videos DIR
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import torch

# CLIP's prompt templates for Kinetics (openai/CLIP data/prompts.md), the default list.
KINETICS_TEMPLATES = tuple(
    f"a {medium} of {person}{{}}."
    for medium in ("photo", "video", "example", "demonstration")
    for person in (
        "",
        "a person ",
        "a person using ",
        "a person doing ",
        "a person during ",
        "a person performing ",
        "a person practicing ",
    )
)


def read_templates(path: Optional[str]) -> tuple:
    """Templates from a file (one a line, each with one ``{}`` for the class name); default Kinetics'."""
    if not path:
        return KINETICS_TEMPLATES
    templates = tuple(line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip())
    bad = [t for t in templates if t.count("{}") != 1]
    if not templates or bad:
        raise ValueError(f"{path}: every template needs exactly one {{}} for the class name; bad: {bad[:3]}")
    return templates


def class_embeddings(em, class_names: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    """(C, D) unit-norm: the mean of each class's unit-norm prompt embeddings, normalised again."""
    from train.eval import embed_texts

    prompts = [t.format(name) for name in class_names for t in templates]
    prompt_CPD = embed_texts(em, prompts).view(len(class_names), len(templates), -1)
    return torch.nn.functional.normalize(prompt_CPD.mean(dim=1), dim=-1)


def evaluate_zero_shot(
    em, data, templates: Sequence[str] = KINETICS_TEMPLATES, batch_size: int = 16, num_workers: int = 0
) -> dict:
    """Top-1 / top-5 accuracy on a train.datasets.ClassificationSet."""
    from train.eval import _require_texts, embed_video_files, is_fusion, text_video_scores
    from train.metrics import topk_accuracy

    _require_texts(em)
    video_feats, ok, failed = embed_video_files(em, data.video_paths, batch_size, num_workers)
    if not ok:
        raise ValueError("zero-shot: no video could be decoded")
    if is_fusion(em):
        prompts = [t.format(name) for name in data.class_names for t in templates]
        scores_CPV = text_video_scores(em, prompts, video_feats).view(len(data.class_names), len(templates), -1)
        scores_VC = scores_CPV.mean(dim=1).T
    else:
        scores_VC = video_feats @ class_embeddings(em, data.class_names, templates).T
    labels_V = torch.tensor([data.labels[i] for i in ok])
    return {
        "task": "zero_shot_classification",
        "top1": topk_accuracy(scores_VC, labels_V, 1),
        "top5": topk_accuracy(scores_VC, labels_V, 5),
        "num_videos": len(ok),
        "num_classes": len(data.class_names),
        "num_templates": len(templates),
        "missing_videos": len(data.missing),
        "undecodable_videos": [data.video_ids[i] for i in failed],
    }


def run_task(em, args) -> dict:
    """``--task zero-shot-classification``: the labels of ``--annotations`` (see
    train.datasets.load_classification), the videos of ``--videos``, the templates of ``--templates``."""
    from train import datasets

    if em.family.at_frames:  # VidLA: its temporal embedding interpolated to the protocol's frames
        from train.registry import load

        em = load(em.family.at_frames)(em, args.num_frames or APPENDIX_FRAMES)
    data = datasets.load_classification(args.annotations, args.videos)
    result = evaluate_zero_shot(em, data, read_templates(args.templates), args.batch_size, args.num_workers)
    return {**result, "num_frames": em.num_frames}


APPENDIX_FRAMES = 32  # appendix D: "a 'single-view' evaluation and ... uniformly sampled 32 frames"
