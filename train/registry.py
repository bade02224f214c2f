"""The trainer's model registry: each model family (VidLA, HD-VILA, VIMPAC, ...) is one ``Family``
record; the data loader, the loop, checkpoints and eval are shared and do not know which family they
train. Torch-free: ``python -m train fit --help`` lists the presets without importing torch.

Adding a family (see also docs/training.md, "Adding a model family")
-------------------------------------------------------------------
Write a torch-free module ``train/families/<name>.py`` (or package ``<name>/``) that calls
``register_family(Family(...))`` at import; every module in ``train/families/`` is imported when the
registry is first used. The fields:

- ``name``: "vidla", "hdvila", ...
- ``model_config``: the family's frozen model-config dataclass (a comment per field). It must have
  ``vocab_size`` and ``context_length`` (text tokenization is shared; the tokenizer is named by
  ``TrainConfig.tokenizer``). Fields ``grad_checkpointing`` / ``clip_weights`` receive the
  ``TrainConfig`` fields of those names when the config has them.
- ``model_presets``: {name: () -> model config}; ``train_presets``: {name: () -> TrainConfig}. Every
  preset name is unique across all families; train presets are named ``<family>-tiny-cpu``,
  ``<family>-<paper size>``. ``default_preset``: the train preset whose recipe a bare model preset name
  trains with (``--config vidla-b32-mst`` = ``vidla-b32`` with ``model="vidla-b32-mst"``).
  ``aliases``: {old name: preset name} (``tiny-cpu`` -> ``vidla-tiny-cpu``).
- ``build``: "module:function", model config -> nn.Module (called after ``torch.manual_seed(seed)``).
- ``load_weights``: optional "module:function", (model, model config) -> report (any JSON-able value,
  logged), e.g. VidLA's CLIP weights; called right after ``build``.
- ``sample``: "module:function" that turns one shard sample into tensors, run in the loader workers:
  ``sample(raw, meta, cfg, rng) -> {field: Tensor} | skip reason``. ``raw["mp4"]`` is the clip's video
  (bytes, or a local path in eval), ``meta`` its parsed json, ``cfg`` the ``ClipLoaderConfig``
  (``cfg.train``: random crops/flip vs. centre crop; ``cfg.flip``; ``cfg.train_crop``: "center" keeps the
  centre crop in training too; ``cfg.model_config``: the family's model config for its own sizes),
  ``rng`` a ``random.Random`` seeded by (seed, epoch, clip key) in
  training (``None`` in eval). A ``DecodeError`` counts the sample as "undecodable"; returning a string
  skips it with that reason. Field names carry the per-sample shape: ``frames_TCHW`` (T, C, H, W) is
  stacked by the shared collate into the batch field ``frames_BTCHW``. A sample without ``mp4`` is
  skipped as "missing_video" unless the function has ``accepts_images = True`` and the sample holds an
  image (``jpg``, ``png``, ...: image-text shards; the long-video family's first stage).
- ``video_inputs``: "module:function", (batch, device) -> the keyword arguments of
  ``model.encode_video`` (moves the family's video fields to the device, normalises pixels).
- ``objectives``: {objective name: "module:object"}; ``loss_weights``: default {loss name: weight}
  (``TrainConfig.loss_weights`` overrides). An objective is ``objective(model, batch, ctx) ->
  {loss name: scalar Tensor}``; the loop minimises sum(weight * loss) over all named losses (a loss
  without a weight is an error) and logs each one in metrics.jsonl ("losses"). ``ctx`` is
  ``train.objectives.ObjectiveContext`` (rank, world_size, step, device, cfg, model_config).
  A contrastive objective is a ``train.objectives.Contrastive(features, loss)``:
  ``features(model, batch, ctx) -> {name: Tensor (B, ...)}`` and ``loss(features, ctx) -> {loss
  name: Tensor}``, so gradient accumulation can score the whole accumulated batch (GradCache). A
  model parameter named ``logit_scale`` is clamped to [0, ln ``logit_scale_max``] after every step.

The batch every objective receives (tensors on ``ctx.device``): the family's stacked sample fields
(``frames_BTCHW``, ...); ``subtitle_ids``/``caption_ids`` (B, L) and ``subtitle_mask``/``caption_mask``;
``has_subtitle``/``has_caption`` (B,) bool; and lists ``keys``, ``video_ids``, ``subtitle``,
``caption``, ``sentences``.

- ``scoring``, ``temperature``, ``tasks``, ``at_frames``: what ``python -m train eval`` may do with the
  family's models (see ``SCORINGS``; ``--task`` refuses a task the family does not list, naming those it does).

Models are evaluated by ``python -m train eval`` through ``model.encode_video(**video_inputs(batch,
device)) -> (B, D)`` and ``model.encode_text(ids_BL, mask_BL) -> (B, D)``, both unit-norm (``--dsl``
also needs ``model.logit_scale_value()``, 1 / temperature); fusion and video-only models are scored
through ``match_scores`` / ``encode_views`` instead (see train.eval).

Shared ``TrainConfig`` fields every family gets: ``init_from`` (weights-only start from another run's
checkpoint: tensors matched by name and shape, the rest left at init and listed in the log) and
``freeze`` (parameter-name glob patterns kept frozen, e.g. ``("text_model.*",)``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

SCORINGS = {  # Family.scoring -> what the model offers train.eval
    "dual": "encode_video / encode_text: unit-norm embeddings, scored by dot product",
    "fusion": "encode_video gives per-video states, match_scores(states, ids, mask) scores every pair",
    "views": "video only: encode_views gives two views of each clip, evaluated clip to clip on shards",
    "none": "not a retrieval model (a tokenizer): eval has nothing to score",
}


# The callables (build, sample, objectives, ...) are "module:name" strings, resolved by ``load`` when used:
# they import torch and the family's model code, and the registry must stay torch-free (``fit --help``
# lists every family's presets without importing torch). Everything else is typed data.
@dataclass(frozen=True)
class Family:
    name: str  # family name, e.g. "vidla"
    model_config: type  # the family's frozen model-config dataclass
    model_presets: dict  # model preset name -> () -> model config
    train_presets: dict  # train preset name -> () -> TrainConfig
    default_preset: str  # train preset a bare model preset name trains with
    build: str  # "module:function": model config -> nn.Module
    sample: str  # "module:function": (raw, meta, ClipLoaderConfig, rng) -> {field: Tensor} | skip reason
    video_inputs: str  # "module:function": (batch, device) -> keyword arguments of model.encode_video
    objectives: dict  # objective name -> "module:object" (a function or a train.objectives.Contrastive)
    loss_weights: dict  # loss name -> default weight
    load_weights: str | None = None  # "module:function": (model, model config) -> report
    aliases: dict = field(default_factory=dict)  # old preset name -> preset name
    # --- what ``python -m train eval`` does with the model (train.eval; see SCORINGS) ---
    scoring: str = "dual"  # how retrieval scores it: one of SCORINGS
    temperature: bool = False  # the model has logit_scale_value(), 1 / temperature (``--dsl``)
    tasks: tuple = ()  # the train.tasks (``--task NAME``) it can be evaluated on
    at_frames: str | None = None  # "module:function": (EvalModel, num_frames) -> EvalModel, for the
    # protocols that evaluate at another frame count than the model was trained on (zero-shot: 32)

    def supports(self, task: str) -> bool:
        """Whether ``--task task`` evaluates this family's models."""
        return task in self.tasks

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ValueError(f"family {self.name}: scoring {self.scoring!r} is not one of {sorted(SCORINGS)}")
        from train.tasks import TASKS  # torch-free, imports nothing of the registry

        unknown = sorted(set(self.tasks) - set(TASKS))
        if unknown:
            raise ValueError(f"family {self.name}: unknown task(s) {unknown}; tasks: {sorted(TASKS)}")
        if self.default_preset not in self.train_presets:
            raise ValueError(f"family {self.name}: default_preset {self.default_preset!r} is not a train preset")
        for target in self.aliases.values():
            if target not in self.train_presets and target not in self.model_presets:
                raise ValueError(f"family {self.name}: alias target {target!r} is not a preset")


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Add ``family``; its preset names must not collide with another family's."""
    taken = {name: f.name for f in FAMILIES.values() if f.name != family.name for name in _names(f)}
    clashes = sorted(set(_names(family)) & set(taken))
    if clashes:
        raise ValueError(f"family {family.name}: preset name(s) {clashes} already belong to family {taken[clashes[0]]}")
    FAMILIES[family.name] = family
    return family


def _names(family: Family) -> list:
    return [*family.model_presets, *family.train_presets, *family.aliases]


_loaded = False


def families() -> dict:
    """Every registered family by name (imports the modules of ``train/families/`` on first use)."""
    global _loaded
    if not _loaded:
        import train.families

        for module in sorted(m.name for m in pkgutil.iter_modules(train.families.__path__)):
            importlib.import_module(f"train.families.{module}")
        _loaded = True
    return FAMILIES


def get_family(name: str) -> Family:
    if name not in families():
        raise ValueError(f"unknown model family {name!r}; registered: {sorted(FAMILIES)}")
    return FAMILIES[name]


def resolve_alias(name: str) -> str:
    for family in families().values():
        if name in family.aliases:
            return family.aliases[name]
    return name


def family_of_model(model_preset: str) -> Family:
    """The family whose model presets include ``model_preset`` (aliases allowed)."""
    name = resolve_alias(model_preset)
    for family in families().values():
        if name in family.model_presets:
            return family
    known = sorted(n for f in FAMILIES.values() for n in f.model_presets)
    raise ValueError(f"unknown model preset {model_preset!r}; expected one of {known}")


def model_preset(model_preset: str):
    """The model config of a model preset of any family."""
    return family_of_model(model_preset).model_presets[resolve_alias(model_preset)]()


def train_presets() -> dict:
    """Every train preset of every family, by name."""
    return {name: fn for family in families().values() for name, fn in family.train_presets.items()}


def load(path: str) -> Callable:
    """The object a "module:name" string names (imported on call, so families stay lazy)."""
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError(f"{path!r} is not 'module:name'")
    return getattr(importlib.import_module(module), name)
