"""benchmarks/frontier.py on the smoke configuration: points run, resume, keep the best checkpoint and report."""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import frontier  # noqa: E402
import run  # noqa: E402
from configs import CONFIGS  # noqa: E402

from art_accel.evaluation import evaluate_robustness  # noqa: E402

pytestmark = pytest.mark.slow
SMOKE = CONFIGS["smoke"]


@pytest.fixture(scope="module")
def data():
    return run.load_data(SMOKE, "")


def test_points_interleave_methods_and_finish_seed_by_seed():
    assert frontier.points({"a": (1, 2), "b": (3,)}, [0, 1]) == [
        ("a", 1, 0), ("b", 3, 0), ("a", 2, 0), ("a", 1, 1), ("b", 3, 1), ("a", 2, 1)]
    todo = frontier.points(frontier.BUDGETS, [0, 1, 2])
    assert len(todo) == 3 * sum(len(b) for b in frontier.BUDGETS.values()) == len(set(todo))
    assert sorted(todo[0::2] + todo[1::2]) == sorted(todo)  # two shards cover every point once


@pytest.mark.parametrize("method", ["fgsm-rs", "art-madry-pgd-10"])
def test_best_weights_are_the_best_validated_epoch(data, method):
    """The weights kept reproduce the validation PGD-10 recorded at the epoch they are from, for our trainers and
    ART's Madry trainer alike."""
    cfg = run.Config(**{**SMOKE.__dict__, "epochs": 3})
    best = run.BestWeights()
    clf, out = run.train(cfg, method, 0, data, on_epoch=best)
    values = [r["val_robust_accuracy"] for r in out["history"]["records"]]
    assert best.epoch == values.index(max(values)) and best.value == max(values)
    best.load()
    val = evaluate_robustness(clf, data.x_test[-cfg.n_val:], data.y_test[-cfg.n_val:], cfg.eps,
                              attacks=("pgd10",), eps_step=cfg.eps / 4)
    assert val["pgd10"] == pytest.approx(best.value, abs=1.01 / cfg.n_val)


def test_art_trainers_without_epochs_refuse_on_epoch(data):
    with pytest.raises(ValueError, match="on_epoch is not supported"):
        run.train(SMOKE, "art-fbf", 0, data, on_epoch=run.BestWeights())


def test_runs_resume_and_report(tmp_path, data):
    out, docs = str(tmp_path / "results"), str(tmp_path / "docs")
    os.makedirs(docs)
    budgets = {"pgd-10": (1, 10), "atas": (2,)}
    todo = frontier.points(budgets, [0])
    written = frontier.run_points(SMOKE, todo, data, out)
    assert [os.path.basename(p) for p in written] == ["frontier__pgd-10__e1__seed0.json",
                                                       "frontier__atas__e2__seed0.json",
                                                       "frontier__pgd-10__e10__seed0.json"]
    rec = json.load(open(written[1]))
    assert rec["epochs"] == 2 and len(rec["curve"]) == 2 and rec["kwargs"]["warmup_epochs"] == 1
    assert 0 <= rec["best_epoch"] < 2 and 0.0 <= rec["best"]["pgd20"] <= rec["best"]["clean"] <= 1.0
    assert frontier.run_points(SMOKE, todo, data, out) == []  # resumable
    text = open(frontier.report(out, docs, budgets)).read()
    assert "| pgd-10 | 10 | 0 |" in text and "Target: PGD-10's full run" in text
    assert os.path.exists(os.path.join(docs, "frontier.png"))


def _rec(method, epochs, seed, pgd20, seconds):
    return {"method": method, "epochs": epochs, "seed": seed, "train_seconds": seconds,
            "best": {"pgd20": pgd20, "clean": 0.5}, "last": {"pgd20": pgd20, "clean": 0.5}, "best_epoch": 0}


def _runs(points):
    runs = {}
    for method, epochs, values, seconds in points:
        runs[(method, epochs)] = [_rec(method, epochs, s, v, seconds) for s, v in enumerate(values)]
    return runs


def test_headline_least_budget_and_time_choice():
    budgets = {"pgd-10": (5, 10), "fgsm-rs": (5, 10, 20), "atas": (10,)}
    runs = _runs([("pgd-10", 5, [0.20, 0.22], 50), ("pgd-10", 10, [0.25, 0.27], 100),
                  ("fgsm-rs", 5, [0.20, 0.20], 10), ("fgsm-rs", 10, [0.26, 0.27], 20),
                  ("fgsm-rs", 20, [0.30, 0.30], 40), ("atas", 10, [0.24, 0.25], 20)])
    text = "\n".join(frontier.headline(runs, budgets))
    assert "**26.0%**" in text
    assert "| fgsm-rs | **10 epochs** | 20 | 0.20 | 26.5 | 2 of 2 |" in text
    assert "| atas | not reached by 10 epochs (best: 10 epochs) | 20 | 0.20 | 24.5 | 0 of 2 |" in text
    assert "| pgd-10 | **10 epochs** | 100 | 1.00 | 26.0 | 2 of 2 |" in text
    choice = frontier.budget_choice(runs, budgets)
    assert [c[:3] for c in choice] == [(0.25, "fgsm-rs", 10), (0.5, "fgsm-rs", 20), (1.0, "fgsm-rs", 20)]
    assert [c[3] for c in choice] == pytest.approx([0.265, 0.30, 0.30])
    runs[("atas", 10)] = runs[("atas", 10)][:1]  # a point missing seed 1: the headline uses seed 0 only
    text = "\n".join(frontier.headline(runs, budgets))
    assert "mean of seeds 0: **25.0%**" in text
    assert "| atas | not reached by 10 epochs (best: 10 epochs) | 20 | 0.20 | 24.0 | 0 of 1 |" in text


def test_authors_recipe_decays_per_epoch_and_augments_every_batch(data, monkeypatch):
    """cifar10-atas-recipe's schedule and crop+flip, on the smoke data: LR x0.1 at 80% and 93% of the run
    (epochs 4 and 5 of 5 rounded: 4 and round(4.65) = 5, so one decay within the run), and the trainer gets a
    RandomCropFlip of the configuration's padding; ART's trainers refuse the recipe instead of ignoring it."""
    import art_accel.trainers.base as base

    cfg = run.Config(**{**SMOKE.__dict__, "epochs": 5, "lr": 0.1, "lr_schedule": "authors", "crop_padding": 2})
    assert run.authors_milestones(30) == [24, 28] and run.authors_milestones(10) == [8, 9]
    seen = []
    original = base.AdversarialTrainerBase.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("augmentation"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(base.AdversarialTrainerBase, "__init__", spy)
    _, out = run.train(cfg, "fgsm-rs", 0, data)
    assert [r["lr"] for r in out["history"]["records"]] == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01])
    assert len(seen) == 1 and seen[0].padding == 2 and seen[0].flip
    with pytest.raises(ValueError, match="not run under"):
        run.train(cfg, "art-madry-pgd-10", 0, data)


def test_which_method_says_what_fits_in_t_seconds():
    from which_method import _time_advice

    runs = _runs([("pgd-10", 10, [0.25, 0.27], 100), ("fgsm-rs", 10, [0.26, 0.27], 20),
                  ("atas", 10, [0.28, 0.29], 60)])
    line = "\n".join(_time_advice(runs))
    assert "mean of seeds 0, 1" in line
    assert "0.25x: ``fgsm-rs`` at 10 epochs (26.5% PGD-20); 0.5x: ``fgsm-rs`` at 10 epochs (26.5% PGD-20); " \
           "1x: ``atas`` at 10 epochs (28.5% PGD-20)" in line
    assert _time_advice({}) == []


@pytest.mark.parametrize("method", ["art-trades", "art-awp"])
def test_art_trades_and_awp_follow_the_recipe_one_lr_per_epoch(data, method):
    """ART's TRADES and AWP step a scheduler once per epoch: under a one-cycle recipe it is planned over the
    epochs (the LR recorded per epoch is the one-cycle's per-epoch value) and the eps warm-up reaches their attack."""
    import torch

    cfg = run.Config(**{**SMOKE.__dict__, "epochs": 3, "lr_schedule": "onecycle", "eps_ramp": 2})
    _, out = run.train(cfg, method, 0, data)
    records = out["history"]["records"]
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    plan = torch.optim.lr_scheduler.OneCycleLR(probe, max_lr=cfg.lr, total_steps=3)
    expected = []
    for _ in range(3):
        expected.append(probe.param_groups[0]["lr"])
        probe.step()
        plan.step()
    assert [r["lr"] for r in records] == pytest.approx(expected)
    assert [r["eps"] for r in records] == pytest.approx([cfg.eps / 2, cfg.eps, cfg.eps])
    recipe = out["history"]["config"]["recipe"]
    assert recipe.startswith("one-cycle LR planned over the epochs, stepped after each one-epoch fit")
