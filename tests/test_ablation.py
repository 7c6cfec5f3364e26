"""``fomm-teach ablation``: the five variants are the claimed switches and nothing else; the command
trains, scores, writes its table and resumes; ``--list`` and a bad ``--data`` answer in one go."""

import csv
import json

import pytest
import torch
import yaml

from fomm_teach.ablation import (VARIANTS, base_config, format_variants, markdown, read_results, run_ablation,
                                 variant, variant_config)
from fomm_teach.cli import main as cli_main
from fomm_teach.errors import FommTeachError
from fomm_teach.losses import GeneratorFullModel
from fomm_teach.models import build_models

from one_thread import one_thread  # noqa: F401  (autouse: every test here runs on one torch thread)

JACOBIAN = "model_params.common_params.estimate_jacobian"
OCCLUSION = "model_params.generator_params.estimate_occlusion_map"
SCALES = "train_params.scales"
EQ_JACOBIAN = "train_params.loss_weights.equivariance_jacobian"

# Written out here, not read from ablation.py: what each variant of the paper's Table 1 must switch.
EXPECTED = {
    "Baseline": {JACOBIAN: False, OCCLUSION: False, SCALES: [1], EQ_JACOBIAN: 0},
    "Pyr.": {JACOBIAN: False, OCCLUSION: False, EQ_JACOBIAN: 0},
    "Pyr.+O": {JACOBIAN: False, EQ_JACOBIAN: 0},
    "Jac. w/o Eq.": {EQ_JACOBIAN: 0},
    "Full": {},
}


def leaves(config, prefix=""):
    """{dotted path: value} of every leaf of a nested dict."""
    found = {}
    for key, value in config.items():
        if isinstance(value, dict):
            found.update(leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


def differences(base, config):
    before, after = leaves(base), leaves(config)
    assert before.keys() == after.keys()
    return {path: after[path] for path in after if after[path] != before[path]}


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    """synthetic-rigid with narrow networks and 2 steps per epoch: a YAML file and its dict."""
    base = base_config("rigid")
    base["dataset_params"]["synthetic_params"].update(num_videos=8, num_frames=8)
    base["train_params"]["batch_size"] = 4
    for section in (base["model_params"]["kp_detector_params"], base["model_params"]["generator_params"],
                    base["model_params"]["generator_params"]["dense_motion_params"]):
        section.update(block_expansion=4, max_features=16)
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    return path, base


@pytest.mark.parametrize("level", ["rigid", "windmill"])
def test_variants_switch_exactly_what_they_claim(level):
    base = base_config(level)
    assert [v.name for v in VARIANTS] == list(EXPECTED)
    for v in VARIANTS:
        assert differences(base, variant_config(base, v)) == EXPECTED[v.name], v.name


def test_variant_switches_reach_the_networks_and_the_losses(tiny_config):
    """No Jacobian head and no Jacobian equivariance term without Jacobians; no occlusion map without it;
    one pyramid scale in the baseline; every other loss term as in the full model."""
    _, base = tiny_config
    x = {"source": torch.rand(2, 3, 32, 32), "driving": torch.rand(2, 3, 32, 32)}
    for v in VARIANTS:
        config = variant_config(base, v)
        torch.manual_seed(0)
        models = build_models(config)
        full = GeneratorFullModel(models["kp_detector"], models["generator"], models["discriminator"],
                                  config["train_params"])
        losses, generated = full(x)
        jacobians = v.name in ("Jac. w/o Eq.", "Full")
        assert ("jacobian" in generated["kp_driving"]) == jacobians, v.name
        assert ("occlusion_map" in generated) == (v.name != "Baseline" and v.name != "Pyr."), v.name
        assert set(losses) == {"l1_pyramid", "equivariance_value"} | ({"equivariance_jacobian"} if v.name == "Full" else set())
        assert len(full.pyramid(x["driving"])) == (1 if v.name == "Baseline" else 3), v.name


def test_a_scheduled_weight_is_switched_off_in_every_epoch():
    base = base_config("rigid")
    base["train_params"]["loss_weight_schedule"] = {"equivariance_jacobian": [[0, 0], [2, 10]]}
    config = variant_config(base, variant("Jac. w/o Eq."))
    assert "equivariance_jacobian" not in config["train_params"]["loss_weight_schedule"]
    assert config["train_params"]["loss_weights"]["equivariance_jacobian"] == 0


def test_list_names_every_variant_and_its_switches(capsys):
    assert cli_main(["ablation", "--list"]) == 0
    out = capsys.readouterr().out
    for v in VARIANTS:
        assert v.name in out
    assert "estimate_jacobian: true -> false" in out
    assert "train_params.scales: [1, 0.5, 0.25] -> [1]" in out
    assert "(the base config as it is)" in out
    assert out == format_variants(base_config("rigid"), "the rigid recipe") + "\n"


@pytest.mark.parametrize("data", ["windmill", "synthetic:cube", "data/taichi"])
def test_bad_data_is_one_clear_line(capsys, data):
    assert cli_main(["ablation", "--data", data, "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"--data {data!r}" in err and "synthetic:rigid" in err


def test_a_budget_is_needed(capsys):
    assert cli_main(["ablation", "--data", "synthetic:rigid"]) == 2
    assert "--budget MINUTES" in capsys.readouterr().err


def test_command_trains_scores_writes_and_resumes(tmp_path, tiny_config, capsys):
    path, base = tiny_config
    out = tmp_path / "ablation"
    args = ["ablation", "--data", "synthetic:rigid", "--config", str(path), "--budget", "0.01", "--seeds", "1",
            "--videos", "4", "--out", str(out), "--no-progress"]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    rows, run = read_results(out / "results")
    assert [row["variant"] for row in rows] == list(EXPECTED)
    assert {row["steps"] for row in rows} == {run["steps_per_variant"]} == {run["epochs"] * 2}
    assert run["epochs"] >= 1 and run["budget_minutes"] == 0.01 and run["seconds_per_step"] > 0
    assert run["reproduce"].endswith(f"--epochs {run['epochs']} --seeds 1 --videos 4 --out {out}")
    for row in rows:   # without Jacobians the Jacobian metrics are those of the identity: the zero-order error
        assert row["jacobian_estimated"] == (row["variant"] in ("Jac. w/o Eq.", "Full"))
        if not row["jacobian_estimated"]:
            assert row["jacobian_motion_error"] == pytest.approx(row["jacobian_motion_zero_order"], rel=1e-4)
        assert row["l1_ratio"] == pytest.approx(row["l1"] / row["copy_l1"], rel=1e-3)
    assert "| Baseline | 0.073 |" in printed and "*" in printed.split("| Baseline |")[1].splitlines()[0]
    assert markdown(rows, run) == (out / "results" / "ablation.md").read_text(encoding="utf-8")   # what notebook 09 reads
    assert (out / "results" / "ablation.png").stat().st_size > 10_000
    assert (out / "full" / "seed-0" / "model.pth.tar").is_file()

    # Resume: a finished run is not trained again; one whose metrics are missing is redone alone.
    metrics = {v.slug: out / v.slug / "seed-0" / "metrics.json" for v in VARIANTS}
    stamps = {slug: path.stat().st_mtime_ns for slug, path in metrics.items()}
    metrics["pyr"].unlink()
    result = run_ablation(out, level="rigid", base=base_config("rigid", str(path)), seeds=1, budget_minutes=0.01,
                          videos=4, progress=False, command="again")
    assert result["trained_now"] == 1
    assert all(metrics[slug].stat().st_mtime_ns == stamps[slug] for slug in stamps if slug != "pyr")
    assert json.loads(metrics["pyr"].read_text())["epochs"] == run["epochs"]   # the plan's epochs, not recalibrated
    assert read_results(out / "results")[1]["sessions"] == 2
    result = run_ablation(out, level="rigid", base=base_config("rigid", str(path)), seeds=1, epochs=run["epochs"],
                          videos=4, progress=False, command="nothing to do")
    assert result["trained_now"] == 0 and read_results(out / "results")[1]["command"] == "again"

    with pytest.raises(FommTeachError, match="another videos"):
        run_ablation(out, level="rigid", base=base_config("rigid", str(path)), seeds=1, epochs=run["epochs"],
                     videos=8, progress=False)
    with open(out / "results" / "ablation.csv", newline="") as file:
        assert len(list(csv.DictReader(file))) == len(VARIANTS)


def test_an_interrupted_run_continues_from_its_checkpoint(tmp_path, tiny_config):
    """A run folder with the first of 2 epochs checkpointed trains only epoch 1."""
    from fomm_teach.ablation import open_plan, train_variant
    from fomm_teach.train import parse_log

    _, base = tiny_config
    plan = open_plan(tmp_path, {"level": "rigid", "base_config": base, "seeds": [0], "videos": 4,
                                "budget_minutes": None, "epochs": 1})
    folder = tmp_path / "full" / "seed-0"
    train_variant(plan, variant("Full"), 0, folder, progress=False)   # epoch 0, checkpointed
    plan["epochs"] = 2
    trained = train_variant(plan, variant("Full"), 0, folder, progress=False)
    assert trained["resumed"]
    assert [epoch for epoch, _ in parse_log(folder / "log.txt")] == [0, 1]


def test_the_same_plan_and_seed_give_the_same_numbers(tmp_path, tiny_config):
    """What makes the committed table reproducible: a run is a function of the plan and the seed."""
    from fomm_teach.ablation import evaluate_variant, open_plan, train_variant

    _, base = tiny_config
    plan = open_plan(tmp_path, {"level": "rigid", "base_config": base, "seeds": [0, 1], "videos": 4,
                                "budget_minutes": None, "epochs": 1})
    keys = ("l1", "r2", "transfer_l1", "jacobian_motion_error", "jacobian_frame_error")
    scores = []
    for folder, seed in (("a", 0), ("b", 0), ("c", 1)):
        trained = train_variant(plan, variant("Full"), seed, tmp_path / folder, progress=False)
        metrics = evaluate_variant(trained["models"], plan, progress=False)
        scores.append([metrics[key] for key in keys])
    assert scores[0] == scores[1]
    assert scores[0] != scores[2]
