"""VIMPAC and E-ViLM through the registry: `python -m train fit` on pipeline-made shards, exact resume,
`python -m train eval` (clip-to-clip for VIMPAC, fusion-scored retrieval and multiple choice for E-ViLM),
the E-ViLM tokenizer's codes feeding E-ViLM's masked video modeling, precomputed VIMPAC codes."""

import json

import torch

from train.__main__ import main
from train.checkpoint import load_checkpoint


def _fit(shards, run, config, *extra):
    return main(["fit", "--config", config, "--shards", str(shards), "--output", str(run), "--no-progress", *extra])


def _losses(run):
    return {r["step"]: r["losses"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}


def _json_out(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _assert_resume_is_exact(shards, tmp_path, config, *extra):
    full, split = tmp_path / f"{config}-full", tmp_path / f"{config}-split"
    assert _fit(shards, full, config, "steps=3", *extra) == 0
    assert _fit(shards, split, config, "steps=3", "--stop-after", "2", *extra) == 0
    assert _fit(shards, split, config, "steps=3", "--resume", *extra) == 0
    assert _losses(split) == _losses(full)
    a, b = load_checkpoint(full)["model"], load_checkpoint(split)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    return full


def test_vimpac_fits_resumes_exactly_and_evaluates_clip_to_clip(tiny_shards, tmp_path, capsys):
    run = _assert_resume_is_exact(tiny_shards, tmp_path, "vimpac-tiny-cpu")
    losses = _losses(run)
    assert set(losses[1]) == {"mask", "contrastive"}
    assert load_checkpoint(run)["family"] == "vimpac"
    assert main(["eval", "--checkpoint", str(run), "--shards", str(tiny_shards)]) == 0
    result = _json_out(capsys)
    assert result["mode"] == "clip_to_clip" and result["num_videos"] == result["num_queries"] == 8
    assert 0 <= result["t2v"]["R@1"] <= result["t2v"]["R@10"] == 100.0
    for flag in (["--dsl"], ["--mode", "paragraph"]):  # text-only options: an error, not silently ignored
        assert main(["eval", "--checkpoint", str(run), "--shards", str(tiny_shards), *flag]) == 2
        assert "evaluated clip to clip, without --dsl or --mode paragraph" in capsys.readouterr().err
    mc = tmp_path / "mc.jsonl"
    mc.write_text(json.dumps({"video": "v000", "options": ["red", "blue"], "answer": 0}) + "\n")
    assert (
        main(["eval", "--checkpoint", str(run), "--multiple-choice", str(mc), "--videos", str(tiny_shards / "media")])
        == 2
    )
    assert "no text encoder" in capsys.readouterr().err


def test_vimpac_trains_on_precomputed_codes(tiny_shards, tmp_path, capsys):
    from train.families.vimpac.precompute import main as precompute
    from train.vq import DalleEncoder

    torch.manual_seed(0)
    torch.save(DalleEncoder(16, 1, 8192).state_dict(), tmp_path / "dvae.pt")
    coded = tmp_path / "coded"
    precompute(
        [
            "--shards",
            str(tiny_shards),
            "--output",
            str(coded),
            "--dvae-weights",
            str(tmp_path / "dvae.pt"),
            "--image-size",
            "64",
            "--short-side",
            "96",
            "--fps",
            "10",
        ]
    )
    capsys.readouterr()
    run = tmp_path / "coded-run"
    weights = f"model.dvae_weights={tmp_path / 'dvae.pt'}"
    assert _fit(coded, run, "vimpac-tiny-cpu", "steps=2", weights) == 0
    assert _losses(run)[2]["mask"] > 0
    # eval from codes and eval from the video (tokenized on the fly) agree: same dVAE, same windows
    assert main(["eval", "--checkpoint", str(run), "--shards", str(coded)]) == 0
    from_codes = _json_out(capsys)
    assert main(["eval", "--checkpoint", str(run), "--shards", str(tiny_shards)]) == 0
    assert _json_out(capsys)["t2v"] == from_codes["t2v"]


def test_evilm_tokenizer_codes_feed_evilm_and_both_evaluate(tiny_shards, tmp_path, capsys):
    tokenizer_run = tmp_path / "tokenizer"
    assert _fit(tiny_shards, tokenizer_run, "evilm-tokenizer-tiny-cpu", "steps=2") == 0
    assert set(_losses(tokenizer_run)[1]) == {"token", "vq"}
    assert load_checkpoint(tokenizer_run)["family"] == "evilm-tokenizer"
    run = _assert_resume_is_exact(
        tiny_shards, tmp_path, "evilm-tiny-cpu", f"model.tokenizer_checkpoint={tokenizer_run}"
    )
    assert set(_losses(run)[1]) == {"vtm", "mlm", "mvm"}
    state = load_checkpoint(run)
    codebook = load_checkpoint(tokenizer_run)["model"]["codebook"]
    assert torch.equal(state["model"]["tokenizer.codebook"], codebook)  # the stage-1 codebook, frozen
    assert main(["eval", "--checkpoint", str(run), "--shards", str(tiny_shards), "--text", "caption"]) == 0
    result = _json_out(capsys)
    assert result["num_videos"] == result["num_texts"] == 7 and result["t2v"]["R@10"] == 100.0
    assert main(["eval", "--checkpoint", str(run), "--shards", str(tiny_shards), "--dsl"]) == 2
    assert "dual-encoder" in capsys.readouterr().err
    videos = tiny_shards / "media"
    mc = tmp_path / "mc.jsonl"
    mc.write_text(
        "".join(
            json.dumps({"video": f"v00{i}", "options": ["red", "green", "blue dog"], "answer": i % 3}) + "\n"
            for i in range(4)
        )
    )
    assert main(["eval", "--checkpoint", str(run), "--multiple-choice", str(mc), "--videos", str(videos)]) == 0
    result = _json_out(capsys)
    assert result["num_questions"] == 4 and result["accuracy"] in (0.0, 25.0, 50.0, 75.0, 100.0)


def test_evilm_without_a_tokenizer_trains_vtm_and_mlm_only(tiny_shards, tmp_path):
    run = tmp_path / "no-mvm"
    assert _fit(tiny_shards, run, "evilm-tiny-cpu", "steps=1") == 0
    assert set(_losses(run)[1]) == {"vtm", "mlm"}


def test_evilm_names_a_wrong_tokenizer_run(tiny_shards, tmp_path, capsys):
    vimpac_run = tmp_path / "vimpac"
    assert _fit(tiny_shards, vimpac_run, "vimpac-tiny-cpu", "steps=1") == 0
    capsys.readouterr()
    assert (
        _fit(tiny_shards, tmp_path / "evilm", "evilm-tiny-cpu", "steps=1", f"model.tokenizer_checkpoint={vimpac_run}")
        == 2
    )
    assert "is a vimpac run, not an E-ViLM tokenizer" in capsys.readouterr().err
