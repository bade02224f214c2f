"""Checkpoints load with torch.load(weights_only=True): one carrying a malicious pickle is refused
before it runs; the model weights export to safetensors and start another run."""

import json

import pytest
import torch
from factories import fit_args

from train.__main__ import main
from train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


class _Payload:
    """What a malicious checkpoint carries: unpickling it would create ``marker`` (it could run anything)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def run(tiny_shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    argv = fit_args(tiny_shards, out, "--steps", "1", "--batch-size", "3")
    assert main(argv) == 0
    return out


def test_a_checkpoint_carrying_code_is_refused_with_a_clear_error(run, tmp_path, capsys):
    state = torch.load(run / "checkpoints" / "step_00000001.pt", weights_only=True)  # ours: plain data
    marker = tmp_path / "pwned"
    state["config"]["payload"] = _Payload(marker)
    evil = save_checkpoint(state, tmp_path / "shared" / "checkpoints" / "step_00000001.pt")
    with pytest.raises(CheckpointError, match="refusing to load checkpoint .* could run code"):
        load_checkpoint(evil)
    assert main(["eval", "--checkpoint", str(evil), "--shards", str(run)]) == 2
    assert "refusing to load checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_export_to_safetensors_and_start_a_run_from_it(run, tiny_shards, tmp_path, capsys):
    from safetensors import safe_open

    out = tmp_path / "model.safetensors"
    assert main(["export", "--checkpoint", str(run), "--output", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"output": str(out)}
    state = load_checkpoint(run)
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["family"] == "vidla"
        assert json.loads(f.metadata()["model_config"]) == state["model_config"]
        assert sorted(f.keys()) == sorted(state["model"])
        for name in f.keys():
            assert torch.equal(f.get_tensor(name), state["model"][name]), name
    second = tmp_path / "second"
    argv = fit_args(tiny_shards, second, "--steps", "1", "--batch-size", "3", f"init_from={out}", "freeze=text_model.*")
    assert main(argv) == 0
    text = {k: v for k, v in load_checkpoint(second)["model"].items() if k.startswith("text_model.")}
    assert text and all(torch.equal(v, state["model"][k]) for k, v in text.items())


@pytest.mark.parametrize("given", ["run_folder", "checkpoint_file"])
def test_eval_of_a_moved_run_finds_the_tokenizer_beside_it(run, tmp_path, given):
    import shutil

    from train.eval import load_eval_model

    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    path = moved / "checkpoints" / "step_00000001.pt"
    state = load_checkpoint(path)
    state["tokenizer"] = str(tmp_path / "gone" / "tokenizer")  # where the run was written, now moved away
    save_checkpoint(state, path)
    em = load_eval_model(str(moved if given == "run_folder" else path))
    assert len(em.tokenizer) == len(load_eval_model(str(run)).tokenizer)


def test_init_from_takes_the_source_runs_tokenizer_and_warns_for_a_safetensors_export(tmp_path, caplog):
    import logging

    from train.config import get_preset
    from train.fit import _init_from_tokenizer

    source = tmp_path / "source"
    (source / "tokenizer").mkdir(parents=True)
    (source / "tokenizer" / "tokenizer_config.json").write_text("{}")
    checkpoint = save_checkpoint({}, source / "checkpoints" / "step_00000001.pt")
    cfg = get_preset("vidla-tiny-cpu").replace(tokenizer="")
    assert _init_from_tokenizer(cfg.replace(init_from=str(source))) == source / "tokenizer"
    assert _init_from_tokenizer(cfg.replace(init_from=str(checkpoint))) == (source / "tokenizer").resolve()
    assert _init_from_tokenizer(cfg.replace(init_from=str(source), tokenizer="/a/tokenizer")) is None
    with caplog.at_level(logging.WARNING, logger="train.fit"):
        assert _init_from_tokenizer(cfg.replace(init_from=str(tmp_path / "model.safetensors"))) is None
    assert "carries no tokenizer" in caplog.text


def test_eval_with_a_tokenizer_larger_than_the_models_vocabulary_is_a_clear_error(
    tiny_shards, tiny_tokenizer, tmp_path, capsys
):
    from train.tokenizer import build_bpe_tokenizer, load_tokenizer

    small = build_bpe_tokenizer(["red dog runs", "blue car"], tmp_path / "small", vocab_size=300)
    vocab = len(load_tokenizer(str(small)))
    assert vocab < len(load_tokenizer(str(tiny_tokenizer)))
    run = tmp_path / "run"
    argv = fit_args(
        tiny_shards, run, "--steps", "1", "--batch-size", "2", f"tokenizer={small}", f"model.vocab_size={vocab}"
    )
    assert main(argv) == 0
    assert (
        main(["eval", "--checkpoint", str(run), "--shards", str(tiny_shards), "--tokenizer", str(tiny_tokenizer)]) == 2
    )
    assert f"more than the model's vocab_size {vocab}" in capsys.readouterr().err


def test_a_new_run_into_a_folder_holding_checkpoints_is_refused(run, tiny_shards, capsys):
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert main(fit_args(tiny_shards, run, "--steps", "1", "--batch-size", "3")) == 2
    assert "already holds the checkpoints of a run (latest: step_00000001.pt); pass --resume" in capsys.readouterr().err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


def test_a_run_from_step_0_replaces_a_tokenizer_left_by_an_earlier_attempt(tiny_shards, tiny_tokenizer, tmp_path):
    """An attempt that stopped before its first checkpoint left RUN/tokenizer (a BPE of its own); the
    run started again with tokenizer= must train and evaluate with that tokenizer, not the stale one."""
    from train.tokenizer import build_bpe_tokenizer, load_tokenizer

    run = tmp_path / "run"
    build_bpe_tokenizer(["red dog runs", "blue car"], run / "tokenizer", vocab_size=300)
    assert main(fit_args(tiny_shards, run, "--steps", "1", "--batch-size", "2", f"tokenizer={tiny_tokenizer}")) == 0
    assert len(load_tokenizer(str(run / "tokenizer"))) == len(load_tokenizer(str(tiny_tokenizer)))


def _eval(checkpoint, shards, *extra) -> list:
    return ["eval", "--checkpoint", str(checkpoint), "--shards", str(shards), *extra]


def test_eval_of_a_weights_only_file_says_what_it_is_and_what_it_needs(run, tiny_shards, tmp_path, capsys):
    """Attack: eval on a train export safetensors file (or a bare state dict) gave a raw traceback
    (KeyError: 'model_config'). It says what the file is and what eval needs, and runs with it."""
    from factories import last_json_line

    export = tmp_path / "model.safetensors"
    assert main(["export", "--checkpoint", str(run), "--output", str(export)]) == 0
    bare = tmp_path / "weights.bin"  # any name: the content tells
    torch.save(load_checkpoint(run)["model"], bare)
    capsys.readouterr()
    assert main(_eval(run, tiny_shards)) == 0
    expected = last_json_line(capsys)
    for path, what in (
        (export, "is a weights-only safetensors export (python -m train export)"),
        (bare, "is a state dict of"),
    ):
        assert main(_eval(path, tiny_shards)) == 2
        err = capsys.readouterr().err
        assert f"{path} {what}" in err and "--config PRESET" in err and "run folder" in err, err
        assert main(_eval(path, tiny_shards, "--config", "vidla-tiny-cpu")) == 2
        assert "pass --tokenizer DIR" in capsys.readouterr().err
        assert main(_eval(path, tiny_shards, "--config", "vidla-tiny-cpu", "--tokenizer", str(run / "tokenizer"))) == 0
        result = last_json_line(capsys)
        assert {**result, "checkpoint": ""} == {**expected, "checkpoint": ""}
    assert main(_eval(export, tiny_shards, "--config", "hdvila-tiny-cpu", "--tokenizer", str(run / "tokenizer"))) == 2
    assert "holds a vidla model; --config names a hdvila preset" in capsys.readouterr().err


def test_eval_of_a_checkpoint_without_its_family_names_the_family_it_fits(run, tiny_shards, tmp_path, capsys):
    """Attack: a VIMPAC checkpoint that records no family was read as VidLA's: TypeError 'sample_fps'."""
    import dataclasses

    from train.families.vimpac.config import vimpac_tiny

    state = load_checkpoint(run)
    del state["family"]
    state["model_config"] = dataclasses.asdict(vimpac_tiny())
    path = save_checkpoint(state, tmp_path / "unlabelled" / "checkpoints" / "step_00000001.pt")
    capsys.readouterr()
    assert main(_eval(path, tiny_shards)) == 2
    err = capsys.readouterr().err
    assert "a training checkpoint that records no model family" in err and "sample_fps" in err, err
    assert "they are family vimpac's" in err and "--config PRESET" in err
    # told its family, the weights (VidLA's here) are checked against that family's model
    assert main(_eval(path, tiny_shards, "--config", "vimpac-tiny-cpu")) == 2
    assert "do not fit a vimpac model" in capsys.readouterr().err
