"""HD-VILA through the shared trainer on shards made by ``curate run --recipe hdvila``: stage 1
(contrastive), stage 2 (MLM, init_from stage 1, stage-1 weights frozen), retrieval eval, exact resume."""

import json

import pytest
import torch

from train.__main__ import main
from train.checkpoint import load_checkpoint
from train.families.hdvila import STAGE1_PARAMETERS

ACCUM = ("--batch-size", "2", "grad_accum=2")


def _fit(shards, run, config, *extra):
    args = ["fit", "--config", config, "--shards", str(shards), "--output", str(run), "--no-progress"]
    assert main([*args, "--steps", "4", "checkpoint_every=2", *extra]) == 0
    return run


def _losses(run, name):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["losses"][name] for r in records}


@pytest.fixture(scope="module")
def stage1(hdvila_shards, tmp_path_factory):
    return _fit(hdvila_shards, tmp_path_factory.mktemp("stage1"), "hdvila-tiny-cpu")


@pytest.fixture(scope="module")
def stage2(hdvila_shards, stage1, tmp_path_factory):
    # two micro-batches per step, as the paper's stage-2 preset: GradCache over the MLM features
    run = tmp_path_factory.mktemp("stage2")
    return _fit(hdvila_shards, run, "hdvila-tiny-cpu-stage2", f"init_from={stage1}", *ACCUM)


def test_stage1_trains_contrastively(stage1):
    losses = _losses(stage1, "contrastive")
    assert sorted(losses) == [1, 2, 3, 4] and all(v > 0 for v in losses.values())
    assert set(_losses(stage1, "mlm").values()) == {0.0}
    state = load_checkpoint(stage1 / "checkpoints" / "step_00000004.pt")
    assert state["family"] == "hdvila"
    assert (stage1 / "tokenizer" / "tokenizer_config.json").exists()  # the WordPiece learnt from the shards


def test_stage2_starts_from_stage1_and_keeps_it_frozen(stage1, stage2):
    from fnmatch import fnmatchcase

    assert all(v > 0 for v in _losses(stage2, "mlm").values())
    # stage 2 reads its text with stage 1's WordPiece vocabulary (init_from brings it)
    vocab = [
        json.loads((run / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"] for run in (stage1, stage2)
    ]
    assert vocab[0] == vocab[1]
    assert set(_losses(stage2, "contrastive").values()) == {0.0}
    before = load_checkpoint(stage1 / "checkpoints" / "step_00000004.pt")["model"]
    after = load_checkpoint(stage2 / "checkpoints" / "step_00000004.pt")["model"]
    changed = [k for k in after if not torch.equal(after[k], before[k])]
    assert changed and all(k.startswith(("text.fusion_layers.", "visual_embeddings.", "mlm_head.")) for k in changed)
    stage1_keys = [k for k in before if any(fnmatchcase(k, p) for p in STAGE1_PARAMETERS)]
    assert stage1_keys and not set(stage1_keys) & set(changed)


def test_eval_prints_retrieval_json(stage1, stage2, hdvila_shards, capsys):
    results = []
    for run in (stage1, stage2):
        assert main(["eval", "--checkpoint", str(run), "--shards", str(hdvila_shards), "--dsl"]) == 0
        results.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    first, second = results
    assert first["num_videos"] >= 6 and set(first["t2v"]) >= {"R@1", "R@5", "R@10", "MdR", "MnR"}
    assert set(first["t2v_dsl"]) == set(first["t2v"])  # --dsl: dual-softmax metrics too
    # stage 2 trains only the multi-modal part: the retrieval embeddings are stage 1's
    assert first["t2v"] == second["t2v"] and first["v2t"] == second["v2t"]


def test_resume_is_exact(hdvila_shards, stage1, stage2, tmp_path):
    """Stage 2 (random MLM masks, random HR frames and crops, two accumulated micro-batches) stopped
    after 2 steps and resumed gives the losses and weights of the uninterrupted run."""
    run = tmp_path / "resumed"
    args = [
        "fit",
        "--config",
        "hdvila-tiny-cpu-stage2",
        "--shards",
        str(hdvila_shards),
        "--output",
        str(run),
        "--no-progress",
        "--steps",
        "4",
        "checkpoint_every=2",
        f"init_from={stage1}",
        *ACCUM,
    ]
    assert main([*args, "--stop-after", "2"]) == 0
    assert main([*args, "--resume"]) == 0
    assert _losses(run, "mlm") == _losses(stage2, "mlm")
    final = load_checkpoint(run / "checkpoints" / "step_00000004.pt")["model"]
    reference = load_checkpoint(stage2 / "checkpoints" / "step_00000004.pt")["model"]
    assert all(torch.equal(final[k], reference[k]) for k in reference)


def test_command_line_sets_crops_weights_and_stages():
    from train.config import apply_overrides, get_preset, model_config, parse_overrides

    tokens = ["model.hr_size=128,256", "model.resnet_weights=/models/resnet-50", "grad_checkpointing=true"]
    cfg = apply_overrides(get_preset("hdvila-tiny-cpu"), parse_overrides(tokens))
    mcfg = model_config(cfg)
    assert (mcfg.hr_size, mcfg.lr_size, mcfg.grid_size) == ((128, 256), (32, 64), (2, 4))
    assert mcfg.resnet_weights == "/models/resnet-50" and mcfg.grad_checkpointing
    paper1, paper2 = get_preset("hdvila"), get_preset("hdvila-stage2")
    assert model_config(paper1).hr_size == (640, 1024) and paper1.decode_short_side is None
    assert paper2.freeze == STAGE1_PARAMETERS and paper2.loss_weights == {"contrastive": 0.0, "mlm": 1.0}
    with pytest.raises(ValueError, match="multiples of 64"):
        model_config(apply_overrides(cfg, parse_overrides(["model.hr_size=100,256"])))


# Two gloo ranks train the tiny model with the paper's frozen BatchNorm; the model goes through the
# trainer's SyncBatchNorm conversion as on GPUs (wrap_model(sync_batch_norm=True)). DDP refuses a
# SyncBatchNorm on CPU, so a frozen batch norm converted by mistake fails here; one that learns changes.
_DDP_FIT = """
import functools, sys
import train.fit
from train.config import apply_overrides, get_preset, parse_overrides
from train.distributed import wrap_model

train.fit.wrap_model = functools.partial(wrap_model, sync_batch_norm=True)
shards, run = sys.argv[1:3]
cfg = apply_overrides(get_preset("hdvila-tiny-cpu"), parse_overrides(
    ["--steps", "3", "--batch-size", "2", "model.resnet_norm_eval=true", "checkpoint_every=3"]))
train.fit.fit(cfg, shards, run, progress=False)
"""


@pytest.mark.slow
def test_frozen_resnet_batch_norm_stays_frozen_under_ddp(hdvila_shards, tmp_path):
    import subprocess
    import sys

    from train.config import apply_overrides, get_preset, model_config, parse_overrides
    from train.families.hdvila.model import HDVILA

    script = tmp_path / "ddp_fit.py"
    script.write_text(_DDP_FIT)
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(script),
        str(hdvila_shards),
        str(run),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    final = load_checkpoint(run)
    assert final["step"] == 3 and final["world_size"] == 2
    cfg = apply_overrides(get_preset("hdvila-tiny-cpu"), parse_overrides(["model.resnet_norm_eval=true"]))
    torch.manual_seed(cfg.seed)  # the initial weights, as fit builds them
    initial = HDVILA(model_config(cfg)).state_dict()
    bn = [k for k in initial if "resnet" in k and ".normalization." in k]
    assert {k.rsplit(".", 1)[1] for k in bn} >= {"weight", "bias", "running_mean", "running_var"}
    changed = [k for k in bn if not torch.equal(final["model"][k], initial[k])]
    assert not changed, f"frozen BatchNorm tensors changed: {changed[:4]}"
    # the steps did train the ResNets' convolutions
    convs = [k for k in initial if "resnet" in k and k.endswith("convolution.weight")]
    assert all(not torch.equal(final["model"][k], initial[k]) for k in convs)


def test_sync_batch_norms_converts_only_the_batch_norms_that_learn():
    from train.distributed import sync_batch_norms

    frozen, learning = torch.nn.BatchNorm2d(4), torch.nn.BatchNorm1d(4)
    frozen.requires_grad_(False)
    model = sync_batch_norms(torch.nn.Sequential(frozen, torch.nn.Sequential(learning)))
    assert model[0] is frozen and isinstance(model[1][0], torch.nn.SyncBatchNorm)


def test_paper_presets_train_five_epochs_each_with_a_linear_decay():
    from train.config import get_preset
    from train.fit import lr_factor

    clips_per_epoch = 100_000_000  # HD-VILA-100M
    for name in ("hdvila", "hdvila-stage2"):
        cfg = get_preset(name)
        global_batch = cfg.batch_size * cfg.grad_accum * 64  # 64 GPUs
        assert cfg.steps * global_batch / clips_per_epoch == pytest.approx(5.0, abs=1e-4), name
        assert cfg.lr_schedule == "linear" and 0 < cfg.warmup_steps < cfg.steps / 50
        halfway = cfg.warmup_steps + (cfg.steps - cfg.warmup_steps) // 2
        assert lr_factor(halfway, cfg) == pytest.approx(0.5, abs=1e-4)
    assert get_preset("hdvila-stage2").steps == 244_141 and get_preset("hdvila").steps == 976_562
