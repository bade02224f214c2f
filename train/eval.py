"""Evaluation: ``python -m train eval`` prints one JSON object.

- retrieval on shards (``--shards``): each clip is a video, its subtitle (summary where present) or
  caption (``--text``) the query; ``--mode paragraph`` queries with all of the clip's sentences joined;
- retrieval on a benchmark (``--dataset NAME --annotations FILE --videos DIR``, see train.datasets);
- zero-shot multiple choice (``--multiple-choice FILE --videos DIR``, VidLA appendix C);
- the hierarchical test set (``--shards OUT --hierarchical``, VidLA appendix H, table 16): text-to-video
  R@1 within the short, the medium and the long clips of the triplets.

Text-to-video and video-to-text R@1/5/10, median and mean rank; with ``--dsl`` also after dual softmax.

Three kinds of model: dual encoders (``encode_video``/``encode_text`` give unit-norm embeddings, scored
by dot product); fusion models (E-ViLM: ``encode_video`` gives per-video states and
``match_scores(video_states, ids_TL, mask_TL) -> (V, T)`` scores every pair); video-only models
(VIMPAC: no ``encode_text``; on shards they are evaluated clip to clip, each clip's first view
(``encode_views``) ranking all clips' second views).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Optional, Sequence

import torch

from train import checkpoint as ckpt
from train.data.decode import DecodeError
from train.data.workers import worker_context
from train.metrics import multiple_choice_accuracy, retrieval_metrics


@dataclasses.dataclass(frozen=True)
class EvalModel:
    model: torch.nn.Module
    tokenizer: object
    num_frames: int
    image_size: int
    context_length: int
    decode_short_side: Optional[int]
    device: torch.device
    family: object  # the train.registry.Family of the model
    model_config: object  # the family's model config

    def loader_config(self, batch_size: int = 16, num_workers: int = 0):
        """The eval ClipLoaderConfig (one ordered pass, centre crop) of this model's family."""
        from train.data.shards import ClipLoaderConfig

        return ClipLoaderConfig(
            batch_size=batch_size,
            num_frames=self.num_frames,
            image_size=self.image_size,
            train=False,
            decode_short_side=self.decode_short_side,
            num_workers=num_workers,
            model_config=self.model_config,
            sample=self.family.sample,
        )


def load_eval_model(
    checkpoint, tokenizer: Optional[str] = None, device: Optional[str] = None, config: Optional[str] = None
) -> EvalModel:
    """The model of a training checkpoint (a file or a run folder), in eval mode, with its tokenizer.
    ``config``: the train preset that supplies what the file lacks (a safetensors export or a state
    dict of weights alone, or a checkpoint without its model family: see train.model_file)."""
    from train.model_file import read_model_file
    from train.registry import load
    from train.tokenizer import load_tokenizer

    found = read_model_file(checkpoint, config)
    mcfg = found.model_config
    model = load(found.family.build)(mcfg)
    try:
        model.load_state_dict(found.weights)
    except RuntimeError as exc:  # missing, unexpected or differently shaped tensors
        first = str(exc).strip().splitlines()[:3]
        raise ckpt.CheckpointError(
            f"the weights of {checkpoint} ({found.what}) do not fit a {found.family.name} model of its "
            f"config: {' '.join(first)[:400]}"
        ) from None
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(dev).eval()
    tokenizer_dir = tokenizer or found.tokenizer
    if not tokenizer and found.tokenizer and not Path(tokenizer_dir).exists():  # the run folder was moved
        source = Path(checkpoint).resolve()
        run_dir = source if source.is_dir() else source.parent.parent  # RUN or RUN/checkpoints/step_N.pt
        tokenizer_dir = run_dir / "tokenizer"
    if not tokenizer_dir:
        tokenizer_dir = found.config.tokenizer  # a preset's tokenizer by name (a CLIP folder or hub name)
    if not tokenizer_dir:
        raise ckpt.CheckpointError(
            f"{checkpoint} is {found.what}, and --config {config} trains a tokenizer of its own: pass "
            "--tokenizer DIR (the run's tokenizer folder, RUN/tokenizer)"
        )
    text_tokenizer = load_tokenizer(str(tokenizer_dir))
    if len(text_tokenizer) > mcfg.vocab_size:
        raise ValueError(
            f"tokenizer {tokenizer_dir} has {len(text_tokenizer)} tokens, more than the model's vocab_size "
            f"{mcfg.vocab_size}: not the tokenizer this model was trained with"
        )
    return EvalModel(
        model,
        text_tokenizer,
        getattr(mcfg, "num_frames", 0),
        getattr(mcfg, "image_size", 0),
        mcfg.context_length,
        found.config.decode_short_side,
        dev,
        found.family,
        mcfg,
    )


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


@torch.no_grad()
def embed_texts(em: EvalModel, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    from train.tokenizer import tokenize

    out = []
    for i in range(0, len(texts), batch_size):
        ids, mask = tokenize(em.tokenizer, texts[i : i + batch_size], em.context_length)
        with _autocast(em.device):
            out.append(em.model.encode_text(ids.to(em.device), mask.to(em.device)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


def video_inputs(em: EvalModel, batch: dict) -> dict:
    """The keyword arguments of ``encode_video`` for a batch of the family's sample fields."""
    from train.registry import load

    return load(em.family.video_inputs)(batch, em.device)


@torch.no_grad()
def embed_videos(em: EvalModel, batch: dict) -> torch.Tensor:
    """(B, D) video embeddings of a batch holding the family's stacked sample fields."""
    with _autocast(em.device):
        return em.model.encode_video(**video_inputs(em, batch)).float().cpu()


class _VideoFiles(torch.utils.data.Dataset):
    """The family's eval sample of each local video file; None for a file that cannot be decoded."""

    def __init__(self, paths, loader_cfg):
        from train.registry import load

        self.paths, self.loader_cfg, self.sample_fn = paths, loader_cfg, load(loader_cfg.sample)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        try:
            sample = self.sample_fn({"mp4": self.paths[i]}, {}, self.loader_cfg, None)
        except DecodeError:
            return i, None
        return i, None if isinstance(sample, str) else sample


def _as_list(items: list) -> list:
    """The batch as the list of (index, sample or None) it is (a module function: workers pickle it)."""
    return items


def embed_video_files(em: EvalModel, paths: Sequence[str], batch_size: int = 16, num_workers: int = 0):
    """(embeddings of the decodable videos (N, D), their indices into ``paths``, indices that failed)."""
    from train.data.shards import batched_name

    dataset = _VideoFiles(list(paths), em.loader_config(batch_size, num_workers))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=_as_list,
        multiprocessing_context=worker_context(num_workers),
    )
    feats, ok, failed = [], [], []
    for items in loader:
        good = [(i, f) for i, f in items if f is not None]
        failed += [i for i, f in items if f is None]
        if good:
            fields = {batched_name(k): torch.stack([f[k] for _, f in good]) for k in good[0][1]}
            feats.append(embed_videos(em, fields))
            ok += [i for i, _ in good]
    return (torch.cat(feats) if feats else torch.zeros(0)), ok, failed


def evaluate_retrieval_set(em: EvalModel, data, dsl: bool, batch_size: int = 16, num_workers: int = 0) -> dict:
    """Metrics on a train.datasets.RetrievalSet."""
    video_feats, ok, failed = embed_video_files(em, data.video_paths, batch_size, num_workers)
    new_index = {old: new for new, old in enumerate(ok)}
    kept = [(t, new_index[v]) for t, v in zip(data.texts, data.video_of_text) if v in new_index]
    if not kept:
        raise ValueError(f"{data.name}: no video could be decoded")
    result = _metrics(em, [t for t, _ in kept], video_feats, [v for _, v in kept], dsl)
    result.update(
        {
            "dataset": data.name,
            "missing_videos": len(data.missing),
            "undecodable_videos": [data.video_ids[i] for i in failed],
        }
    )
    return result


def is_fusion(em: EvalModel) -> bool:
    return em.family.scoring == "fusion"


def has_texts(em: EvalModel) -> bool:
    """Whether the family's models score texts against videos (dual encoders and fusion models)."""
    return em.family.scoring in ("dual", "fusion")


def _require_texts(em: EvalModel) -> None:
    if not has_texts(em):
        raise ValueError(
            f"the {em.family.name} model has no text encoder: evaluate it on shards "
            "(--shards), where it is scored clip to clip"
        )


@torch.no_grad()
def text_video_scores(em: EvalModel, texts: Sequence[str], video_feats) -> torch.Tensor:
    """(T, V) similarity of every text to every video: dot products of the embeddings, or the fusion
    model's pair scores."""
    _require_texts(em)
    if not is_fusion(em):
        return embed_texts(em, texts) @ video_feats.T
    from train.tokenizer import tokenize

    ids, mask = tokenize(em.tokenizer, list(texts), em.context_length)
    with _autocast(em.device):
        scores_VT = em.model.match_scores(video_feats.to(em.device), ids.to(em.device), mask.to(em.device))
    return scores_VT.float().cpu().T


MEANINGFUL_VIDEOS = 100  # below it, R@1/5/10 are too coarse to compare runs


def _metrics(em: EvalModel, texts, video_feats, video_of_text, dsl: bool) -> dict:
    if dsl and is_fusion(em):
        raise ValueError("--dsl needs a dual-encoder model (a logit scale); this one scores pairs by fusion")
    if dsl and not em.family.temperature:
        raise ValueError(
            f"--dsl needs the model's logit scale (logit_scale_value()); the {em.family.name} model has none"
        )
    if video_feats.shape[0] < MEANINGFUL_VIDEOS:
        import logging

        logging.getLogger(__name__).warning(
            "retrieval over %d videos: recall is not meaningful below %d (R@10 of 10 videos is 100%% by "
            "construction); evaluate on more clips",
            video_feats.shape[0],
            MEANINGFUL_VIDEOS,
        )
    sim_TV = text_video_scores(em, texts, video_feats)
    scale = float(em.model.logit_scale_value().detach()) if dsl else None
    return {
        "num_videos": int(video_feats.shape[0]),
        "num_texts": len(texts),
        **retrieval_metrics(sim_TV, torch.tensor(video_of_text), dsl_scale=scale),
    }


def _shard_clips(em: EvalModel, shards_pattern: str, batch_size: int, num_workers: int):
    """(video features (N, D), per clip {key, subtitle, caption, sentences}, skip counts) of every
    decodable clip of the shards, in shard order."""
    from train.data.shards import expand_shards, make_loader

    cfg = em.loader_config(batch_size, num_workers)
    video_feats, clips, skipped = [], [], {}
    for batch in make_loader(expand_shards(shards_pattern), cfg):
        skipped[batch["stream"]["id"]] = batch["stream"]["skipped"]
        for j, key in enumerate(batch["keys"]):
            texts = {name: batch[name][j] for name in ("subtitle", "caption", "sentences")}
            clips.append({**texts, "key": key})
        video_feats.append(embed_videos(em, batch))
    total = Counter()
    for counts in skipped.values():
        total.update(counts)
    return (torch.cat(video_feats) if video_feats else torch.zeros(0)), clips, dict(total)


def _query(clip: dict, mode: str, text: str) -> str:
    if mode == "paragraph":  # all sentences of the clip (the full subtitle, not its summary)
        return " ".join(clip["sentences"]) or clip["subtitle"]
    return clip[text]


def evaluate_shards(
    em: EvalModel,
    shards_pattern: str,
    mode: str,
    text: str,
    dsl: bool,
    batch_size: int = 16,
    num_workers: int = 0,
) -> dict:
    """Metrics on curated shards: one video per clip, one query per clip that has the chosen text."""
    if not has_texts(em):
        if dsl or mode == "paragraph":  # asked for, it would be silently left out
            raise ValueError(
                f"the {em.family.name} model has no text encoder: it is evaluated clip to clip, "
                "without --dsl or --mode paragraph"
            )
        return evaluate_clip_to_clip(em, shards_pattern, batch_size, num_workers)
    video_BD, clips, skipped = _shard_clips(em, shards_pattern, batch_size, num_workers)
    # clips without the chosen text leave the gallery (video-to-text needs a text for every video)
    kept = [i for i, clip in enumerate(clips) if _query(clip, mode, text).strip()]
    if not kept:
        raise ValueError(f"no clip in {shards_pattern} has a {text if mode != 'paragraph' else 'sentence'} text")
    texts = [_query(clips[i], mode, text) for i in kept]
    result = _metrics(em, texts, video_BD[kept], list(range(len(kept))), dsl)
    result.update({"dataset": "shards", "mode": mode, "text": text, "skipped_samples": skipped})
    return result


def evaluate_hierarchical(
    em: EvalModel, folder: str, text: str, dsl: bool, batch_size: int = 16, num_workers: int = 0
) -> dict:
    """VidLA table 16: text-to-video retrieval within each scale of a hierarchical test set (written by
    ``python -m curate hierarchical-testset``). A triplet counts only when all three of its clips were
    decoded and have the chosen text, so every scale ranks the same number of videos."""
    from curate.text.hierarchy import HIERARCHY, read_triplets

    _require_texts(em)
    triplets = read_triplets(folder)
    video_BD, clips, skipped = _shard_clips(em, folder, batch_size, num_workers)
    row_of = {clip["key"]: i for i, clip in enumerate(clips) if clip[text].strip()}
    complete = [t for t in triplets if all(getattr(t, scale) in row_of for scale in HIERARCHY)]
    if not complete:
        raise ValueError(f"no triplet of {folder} has three decodable clips with a {text} text")
    result = {
        "task": "hierarchical",
        "text": text,
        "num_triplets": len(complete),
        "incomplete_triplets": len(triplets) - len(complete),
        "skipped_samples": skipped,
    }
    for scale in HIERARCHY:
        rows = [row_of[getattr(t, scale)] for t in complete]
        texts = [clips[i][text] for i in rows]
        result[scale] = _metrics(em, texts, video_BD[rows], list(range(len(rows))), dsl)
    # the shape of table 16: text-to-video R@1 per scale
    result["t2v_R@1"] = {scale: result[scale]["t2v"]["R@1"] for scale in HIERARCHY}
    if dsl:
        result["t2v_dsl_R@1"] = {scale: result[scale]["t2v_dsl"]["R@1"] for scale in HIERARCHY}
    return result


@torch.no_grad()
def evaluate_clip_to_clip(em: EvalModel, shards_pattern: str, batch_size: int = 16, num_workers: int = 0) -> dict:
    """A video-only model on shards: each clip's first view queries the second views of all clips
    (VIMPAC: two windows of the clip); R@k, median and mean rank in both directions."""
    from train.data.shards import expand_shards, make_loader

    if em.family.scoring != "views":
        raise ValueError("this model has neither encode_text nor encode_views: nothing to retrieve")
    first, second, skipped = [], [], {}
    for batch in make_loader(expand_shards(shards_pattern), em.loader_config(batch_size, num_workers)):
        skipped[batch["stream"]["id"]] = batch["stream"]["skipped"]
        with _autocast(em.device):
            a, b = em.model.encode_views(**video_inputs(em, batch))
        first.append(a.float().cpu())
        second.append(b.float().cpu())
    if not first:
        raise ValueError(f"no clip of {shards_pattern} could be read")
    first_ND, second_ND = torch.cat(first), torch.cat(second)
    total = Counter()
    for counts in skipped.values():
        total.update(counts)
    return {
        "num_videos": int(first_ND.shape[0]),
        "num_queries": int(first_ND.shape[0]),
        **retrieval_metrics(first_ND @ second_ND.T, torch.arange(first_ND.shape[0])),
        "dataset": "shards",
        "mode": "clip_to_clip",
        "skipped_samples": dict(total),
    }


def evaluate_multiple_choice(em: EvalModel, data, batch_size: int = 16, num_workers: int = 0) -> dict:
    _require_texts(em)
    video_feats, ok, failed = embed_video_files(em, data.video_paths, batch_size, num_workers)
    if not ok:
        raise ValueError("multiple choice: no video could be decoded")
    num_options = {len(data.candidates[i]) for i in ok}
    if len(num_options) != 1:
        raise ValueError(f"multiple choice: questions have different numbers of options {sorted(num_options)}")
    options = [t for i in ok for t in data.candidates[i]]
    C = num_options.pop()
    if is_fusion(em):  # each video against its own options only
        scores_QC = torch.stack(
            [text_video_scores(em, options[q * C : (q + 1) * C], video_feats[q : q + 1])[:, 0] for q in range(len(ok))]
        )
    else:
        text_QCD = embed_texts(em, options).view(len(ok), C, -1)
        scores_QC = torch.einsum("qcd,qd->qc", text_QCD, video_feats)
    answers = torch.tensor([data.answers[i] for i in ok])
    return {
        "task": "multiple_choice",
        "accuracy": multiple_choice_accuracy(scores_QC, answers),
        "num_questions": len(ok),
        "missing_videos": len(data.missing),
        "undecodable_videos": [data.video_ids[i] for i in failed],
    }


def run_multiple_choice(em: EvalModel, args) -> dict:
    """``--task multiple-choice``: the questions of ``--annotations`` over the videos of ``--videos``."""
    from train import datasets

    return evaluate_multiple_choice(
        em, datasets.load_multiple_choice(args.annotations, args.videos), args.batch_size, args.num_workers
    )


def with_num_frames(em: EvalModel, num_frames: int) -> EvalModel:
    """``em`` evaluating ``num_frames`` frames per video, for a model that takes any count (the long-video
    encoder stretches its temporal table): the model config's ``num_frames`` (the sample functions read
    it) and the configs the model's modules keep, where they check their input against it."""
    if "num_frames" not in {f.name for f in dataclasses.fields(em.model_config)}:
        raise ValueError(f"the {em.family.name} model has no frame count to change")
    mcfg = dataclasses.replace(em.model_config, num_frames=num_frames)
    for module in em.model.modules():
        if getattr(module, "cfg", None) is em.model_config or (
            dataclasses.is_dataclass(getattr(module, "cfg", None)) and type(module.cfg) is type(mcfg)
        ):
            module.cfg = dataclasses.replace(module.cfg, num_frames=num_frames)
    return dataclasses.replace(em, num_frames=num_frames, model_config=mcfg)
