"""``--task long-video-retrieval``: zero-shot text-to-video retrieval on whole videos (the long-video
recipe, arXiv:2312.07395, section 6: "we focus on long videos at 1 FPS"). Each video gives its frames
at 1 FPS from its beginning, 128 of them by default (section 6.1's long inputs at ViT-B; 256 with
``--num-frames 256``, section 6.2's at ViT-L); a video shorter than that repeats its seconds to fill
them (train.families.longvideo.data). The queries are the benchmark's texts: ActivityNet Captions and
DiDeMo as paragraphs (all sentences of a video joined), as the paper's paragraph-video retrieval.
"""

from __future__ import annotations

DEFAULT_FRAMES = 128


def run(em, args) -> dict:
    from train import datasets
    from train.eval import evaluate_retrieval_set, with_num_frames

    if em.family.name != "longvideo":
        raise ValueError(f"--task long-video-retrieval evaluates a longvideo model, not {em.family.name}")
    frames = args.num_frames or DEFAULT_FRAMES
    if frames % em.model_config.tubelet_frames:
        raise ValueError(f"--num-frames {frames} is not a multiple of the tubelet's {em.model_config.tubelet_frames}")
    em = with_num_frames(em, frames)
    paragraph = (
        args.mode or ("paragraph" if args.benchmark in datasets.PARAGRAPH_BY_DEFAULT else "clip")
    ) == "paragraph"
    kwargs = {"split": args.split} if args.benchmark == "msvd" else {}
    data = datasets.LOADERS[args.benchmark](args.annotations, args.videos, paragraph=paragraph, **kwargs)
    result = evaluate_retrieval_set(em, data, args.dsl, args.batch_size, args.num_workers)
    return {**result, "num_frames": frames, "fps": 1.0, "mode": "paragraph" if paragraph else "clip"}
