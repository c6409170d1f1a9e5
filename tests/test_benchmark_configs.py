"""The benchmark configurations are consistent, and the report's rules (collapse, time pairing) say what they claim."""
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

from configs import CONFIGS, METHODS, method_spec  # noqa: E402
from report import averaging, claims, overfitting_check, versus_art  # noqa: E402
from rules import CLAIMS_CONFIGS, co_verdict, collapsed, within  # noqa: E402
from runs import time_ratio, time_to_cell  # noqa: E402
from which_method import which_method  # noqa: E402

from art_accel.registry import METHODS as REGISTRY  # noqa: E402


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_configured_method_is_known_and_overrides_name_its_methods(name):
    cfg = CONFIGS[name]
    assert cfg.name == name
    assert set(cfg.methods) <= set(METHODS)
    assert set(cfg.headline) <= set(cfg.methods)
    assert set(cfg.overrides) <= set(cfg.methods)
    for method in cfg.methods:
        impl, _ = method_spec(cfg, method)
        assert impl.startswith("ART:") or impl in REGISTRY


def test_overrides_replace_only_their_configuration_s_arguments():
    assert method_spec(CONFIGS["mnist"], "atas") == ("atas", {"warmup_epochs": 0})
    assert method_spec(CONFIGS["mnist-10k"], "atas") == ("atas", {"warmup_epochs": 1})
    assert method_spec(CONFIGS["mnist"], "pgd-10") == ("pgd", {"max_iter": 10})
    assert METHODS["atas"] == ("atas", {"warmup_epochs": 1})  # the shared table is not mutated


def test_collapse_rule():
    assert collapsed([0.10, 0.20, 0.25, 0.02])  # falls below 5% and below half the peak
    assert not collapsed([0.10, 0.20, 0.25, 0.20])
    assert not collapsed([0.04, 0.06, 0.08])  # low but never fell after a peak
    assert not collapsed([0.08, 0.09, 0.06, 0.05])  # 5% is not below 5%
    assert collapsed([0.30, 0.01, 0.25])  # a collapse that recovers still counts
    assert collapsed([0.20, 0.01, 0.30])  # ... even above its earlier best


def _run(seed, cpu, seconds, val=()):
    return {"seed": seed, "machine": {"cpu": cpu, "torch_threads": "1"}, "train_seconds": seconds, "evaluation": {},
            "history": {"records": [{"val_robust_accuracy": v, "elapsed_seconds": seconds * (i + 1) / len(val)}
                                    for i, v in enumerate(val)]} if val else None}


def test_time_ratio_pairs_only_runs_of_the_same_seed_on_the_same_machine():
    a = [_run(0, "X", 10.0), _run(1, "Y", 30.0), _run(2, "X", 12.0)]
    b = [_run(0, "X", 20.0), _run(1, "Z", 60.0), _run(2, "X", 48.0)]
    assert time_ratio(a, b) == pytest.approx((0.5 + 0.25) / 2)  # seed 1 ran on two machines: left out
    assert time_ratio([_run(0, "X", 10.0)], [_run(1, "X", 40.0)]) == pytest.approx(0.25)  # one machine: means
    assert time_ratio([_run(0, "X", 10.0)], [_run(1, "Y", 40.0)]) is None  # nothing comparable
    assert time_ratio([], b) is None



def test_runs_on_two_boots_of_one_cpu_label_are_not_compared_by_time():
    # sessions run on fresh machines that can share a CPU label at different speeds: the boot tells them apart
    old, new = _run(1, "X", 10.0), _run(1, "X", 25.0)
    new["machine"]["host"] = "d2d57ac3"
    assert time_ratio([new], [old]) is None
    assert time_ratio([new], [dict(new, train_seconds=50.0)]) == pytest.approx(0.5)
    assert time_ratio([_run(1, "X", 10.0)], [old]) == pytest.approx(1.0)  # both before boots were recorded


def test_time_to_robustness_cell_relative_to_pgd10_on_the_same_seed():
    pgd10 = [_run(0, "X", 100.0), _run(1, "Y", 50.0)]
    recs = [_run(0, "X", 40.0, val=(0.5, 0.9)), _run(1, "Y", 30.0, val=(0.5, 0.95)), _run(2, "Y", 9.0, val=(0.1,))]
    # seed 0 reaches 0.9 at 40 s (0.40x of 100 s), seed 1 at 30 s (0.60x of 50 s), seed 2 never
    assert time_to_cell(recs, 0.9, pgd10) == "35 s (2/3), 0.50x"
    assert time_to_cell(recs, 0.99, pgd10) == "never (0/3)"


def _scored(seed, seconds, aa, clean=0.5):
    rec = _run(seed, "X", seconds, val=(0.3,))
    rec["evaluation"] = {"clean": clean, "autoattack": aa}
    return rec


def test_ours_against_art_on_two_machines_has_no_time_ratio_but_keeps_its_accuracies():
    ours, art = _scored(0, 100.0, 0.87, clean=0.97), _scored(0, 150.0, 0.80, clean=0.96)
    art["machine"]["host"] = "891a1c18"  # another boot of the same CPU label
    for rec in (ours, art):
        rec["evaluation"]["pgd20"] = rec["evaluation"]["autoattack"] + 0.04
    row = versus_art({"mnist-recipe": {"awp-w2": [ours], "art-awp-w2-pb": [art]}})[-2]
    assert row == "| mnist-recipe | awp-w2 | art-awp-w2-pb | 1 | n/a (other machines) | 87.0 / 80.0 | 91.0 / 84.0 |"
    del art["machine"]["host"]
    row = versus_art({"mnist-recipe": {"awp-w2": [ours], "art-awp-w2-pb": [art]}})[-2]
    assert "| 1 | 0.67 |" in row


def test_ours_against_art_says_which_seeds_its_time_ratio_pairs_when_not_all():
    ours = [_scored(s, 100.0, 0.87) for s in range(3)]
    art = [_scored(s, t, 0.85) for s, t in enumerate((150.0, 200.0, 400.0))]
    art[0]["machine"]["host"] = "891a1c18"  # seed 0's pair ran on two machines: only seeds 1 and 2 are timed
    for rec in ours + art:
        rec["evaluation"]["pgd20"] = rec["evaluation"]["autoattack"] + 0.04
    row = versus_art({"mnist-recipe": {"awp-w2": ours, "art-awp-w2-pb": art}})[-2]
    assert "| 3 | 0.38 (seeds 1, 2) |" in row  # (100/200 + 100/400) / 2
    del art[0]["machine"]["host"]
    row = versus_art({"mnist-recipe": {"awp-w2": ours, "art-awp-w2-pb": art}})[-2]
    assert "| 3 | 0.47 |" in row  # (2/3 + 1/2 + 1/4) / 3, every seed paired


@pytest.mark.parametrize("aa_atas, verdict", [(0.29, "**reproduced**"), (0.28, "**not reproduced**")])
def test_cifar_recipe_claims_are_judged_by_the_same_rule_as_a_second_set(aa_atas, verdict):
    assert CLAIMS_CONFIGS == ("mnist-recipe", "cifar10-recipe", "cifar10-atas-recipe")
    # ATAS at 0.2x PGD-10's time; the rule allows at most 1.5 points less AutoAttack accuracy
    runs = {"pgd-10": [_scored(s, 100.0, 0.30) for s in range(3)],
            "atas": [_scored(s, 20.0, aa_atas + 0.0001 * s - 0.0001) for s in range(3)]}
    lines = claims({"cifar10-recipe": runs}, "cifar10-recipe")
    assert lines[0] == "### cifar10-recipe (second set of verdicts, same rules)"
    atas = next(x for x in lines if x.startswith("- **ATAS vs PGD-10"))
    assert "time x0.20" in atas and verdict in atas and "provisional" not in atas


def test_no_ecas_verdict_while_its_autoattack_is_pending():
    runs = {"pgd-10": [_scored(0, 100.0, None)], "ecas": [_scored(0, 104.0, None, clean=0.4)]}
    ecas = next(x for x in claims({"cifar10-recipe": runs}, "cifar10-recipe") if x.startswith("- **ECAS"))
    assert "AutoAttack pending, so no verdict yet" in ecas and "reproduced" not in ecas
    assert "clean -10.0 points" in ecas and "time x1.04" in ecas


def test_which_method_answers_for_each_claims_configuration_from_its_own_numbers():
    mnist = {"pgd-10": [_scored(s, 100.0, 0.87) for s in range(3)], "atas": [_scored(s, 20.0, 0.83) for s in range(3)]}
    cifar = {"pgd-10": [_scored(0, 100.0, 0.25)], "atas": [_scored(0, 20.0, 0.245)]}
    page = which_method({"mnist-recipe": mnist, "cifar10-recipe": cifar})
    head, tail = "\n".join(page).split("The same questions on ``cifar10-recipe``")
    # MNIST: ATAS is 4 points short, so PGD-10 itself is the cheapest within parity; on CIFAR ATAS is within it
    assert "``pgd-10`` is the cheapest method within 2 points" in head and "``atas`` (-4.0 points" in head
    assert "``atas`` is the cheapest method within 2 points" in tail and "(-0.5 points" in tail
    assert "1 seed per method. Provisional" in tail


def test_a_drop_of_exactly_the_allowed_points_passes_despite_float32_storage():
    import numpy as np

    # 322 and 352 robust images of 1,500 (3 seeds x 500): exactly 2.0 points apart, stored as float32 per seed
    a = [float(np.float32(c / 500)) for c in (97, 116, 109)]
    b = [float(np.float32(c / 500)) for c in (123, 116, 113)]
    diff = sum(a) / 3 - sum(b) / 3
    assert diff < -0.02  # the bare comparison would call it more than 2 points
    assert within(diff, 2.0) and not within(diff - 1 / 1500, 2.0)  # one image more is beyond the rule
    runs = {"pgd-7": [_scored(s, 100.0, v) for s, v in enumerate(b)],
            "mplus-deat": [_scored(s, 40.0, v) for s, v in enumerate(a)]}
    line = next(x for x in claims({"cifar10-recipe": runs}, "cifar10-recipe") if x.startswith("- **M+DEAT"))
    assert "AA -2.0 points" in line and "**reproduced**" in line


_FALLS, _HOLDS = (0.10, 0.25, 0.02, 0.20), (0.10, 0.25, 0.22, 0.24)


def _co(*curves):
    recs = [_run(s, "X", 100.0, val=c) for s, c in enumerate(curves)]
    for r in recs:
        r["evaluation"] = {"clean": 0.5, "pgd20": 0.2}
    return recs


@pytest.mark.parametrize("fgsm, atas, verdict", [
    ((_HOLDS, _HOLDS), (), "**not testable here**: fgsm-rs-14 collapsed on 0/2 seeds (the setting needs at least 2 "
                           "of 3), so ATAS was not run there"),
    ((_FALLS, _HOLDS), (), "no verdict yet: fgsm-rs-14 collapsed on 1/2 seeds, ATAS not run yet (the rule "
                           "needs 3 seeds)"),
    ((_FALLS, _HOLDS, _HOLDS), (_HOLDS,) * 3, "**not testable here**: fgsm-rs-14 collapsed on 1/3 seeds (the "
                                              "setting needs at least 2 of 3); ATAS' runs there are a "
                                              "description, they test nothing"),
    ((_FALLS, _FALLS), (_HOLDS, _HOLDS), "no verdict yet: fgsm-rs-14 collapsed on 2/2 seeds, ATAS on 0/2 (the rule "
                                         "needs 3 seeds)"),
    ((_FALLS, _FALLS, _HOLDS), (_HOLDS,) * 3, "**reproduced**: fgsm-rs-14 collapsed on 2/3 seeds, ATAS on 0/3"),
    ((_FALLS, _FALLS), (_HOLDS, _FALLS), "**not reproduced**: fgsm-rs-14 collapsed on 2/2 seeds and ATAS too (1/2)"),
])
def test_overfitting_verdict_counts_seeds_and_is_final_only_when_the_missing_seeds_cannot_change_it(fgsm, atas,
                                                                                                    verdict):
    co = {"fgsm-rs-14": _co(*fgsm), **({"atas": _co(*atas)} if atas else {})}
    assert co_verdict("cifar10-co", co)[0] == verdict
    lines = overfitting_check("cifar10-co", co)
    assert lines[-2].endswith(f"Verdict: {verdict}.")
    assert sum("collapsed;" in x or x.endswith("collapsed.") for x in lines) == sum(
        collapsed(c) for c in fgsm + atas)


def test_which_method_gives_each_overfitting_setting_its_own_verdict():
    mnist = {"pgd-10": [_scored(s, 100.0, 0.87) for s in range(3)], "atas": [_scored(s, 20.0, 0.83) for s in range(3)]}
    data = {"mnist-recipe": mnist, "cifar10-co": {"fgsm-rs-14": _co(_HOLDS, _HOLDS)},
            "cifar10-co-16": {"fgsm-rs": _co(_FALLS, _FALLS), "atas": _co(_HOLDS, _HOLDS)}}
    rerun = {"config": "cifar10-co", "method": "fgsm-rs-14", "seed": 0, "reading": "robust overfitting",
             "train": {"pgd20": 0.93}, "test": {"pgd20": 0.135}}
    line = next(x for x in which_method(data, probes=[], signatures=[rerun]) if "overfitting is a risk" in x)
    assert line.endswith("the reruns read it as cifar10-co fgsm-rs-14 seed 0: robust overfitting, PGD-20 93.0% on "
                         "training images vs 13.5% on test images.")
    assert ("``cifar10-co`` (width 32, FGSM-RS with a 14/255 step at 8/255): not testable here: fgsm-rs-14 "
            "collapsed on 0/2 seeds") in line
    assert ("``cifar10-co-16`` (width 32, FGSM-RS with a 20/255 step at 16/255): no verdict yet: fgsm-rs collapsed "
            "on 2/2 seeds, ATAS on 0/2 (the rule needs 3 seeds) (final PGD-20: fgsm-rs 20.0 ± 0.0%, ATAS "
            "20.0 ± 0.0%)") in line
    assert "**" not in line.split(": ", 1)[1] and "probed" not in line  # verdicts unbolded inside the bold item


@pytest.mark.parametrize("train, test, expected", [
    ({"pgd20": 0.02, "fgsm": 0.40}, {"pgd20": 0.01}, "catastrophic overfitting"),  # PGD broken on training images too
    ({"pgd20": 0.02, "fgsm": 0.05}, {"pgd20": 0.015}, "neither"),  # FGSM low as well: not the FGSM-only signature
    ({"pgd20": 0.40, "fgsm": 0.60}, {"pgd20": 0.07}, "robust overfitting"),  # robust on training images only
    ({"pgd20": 0.12, "fgsm": 0.50}, {"pgd20": 0.10}, "neither"),
])
def test_co_signature_reading_follows_the_protocol_thresholds(train, test, expected):
    from rules import reading

    assert reading(train, test) == expected


def _aa_runs(values):
    return [{"seed": s, "evaluation": {"autoattack": v, "pgd20": v + 0.05, "clean": 0.4}} for s, v in enumerate(values)]


@pytest.mark.parametrize("plain,ema,reading", [
    ([0.20, 0.21, 0.22], [0.22, 0.23, 0.24], "helps"),        # +2 points
    ([0.20, 0.21, 0.22], [0.205, 0.215, 0.225], "no difference"),
    ([0.20, 0.21, 0.22], [0.18, 0.19, 0.20], "hurts"),
    ([0.20, 0.21, 0.22], [0.25], "helps (provisional: 1 of 3 seeds)"),  # compared on the shared seed 0 only
])
def test_averaging_reading_follows_the_amendment(plain, ema, reading):
    lines = averaging({"cifar10-recipe": {"pgd-10": _aa_runs(plain), "pgd-10-ema": _aa_runs(ema)}})
    row = next(line for line in lines if line.startswith("| cifar10-recipe | pgd-10 |"))
    assert row.endswith(f"| {reading} |")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_withdrawn_rows_are_methods_of_their_configuration_with_a_reason(name):
    cfg = CONFIGS[name]
    assert set(cfg.withdrawn) <= set(cfg.methods) and all(why.strip() for why in cfg.withdrawn.values())


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_a_withdrawn_row_names_the_fixed_row_that_replaces_it(name):
    # a recipe that did not train is fixed, not dropped: the reason names a replacement the configuration runs
    cfg = CONFIGS[name]
    for method, why in cfg.withdrawn.items():
        replacement = re.search(r"replaced by ([\w-]+)", why)
        assert replacement, (name, method)
        assert replacement.group(1) in cfg.methods and replacement.group(1) not in cfg.withdrawn, (name, method)


def test_the_authors_recipe_lists_only_the_claims_whose_rows_it_runs():
    runs = {"pgd-10": [_scored(s, 100.0, 0.30) for s in range(3)], "atas": [_scored(s, 20.0, 0.29) for s in range(3)]}
    lines = claims({"cifar10-atas-recipe": runs}, "cifar10-atas-recipe")
    assert lines[0] == "### cifar10-atas-recipe (third set of verdicts, same rules)"
    assert "Under the ATAS authors' recipe" in lines[2]
    listed = [x for x in lines if x.startswith("- **")]
    assert len(listed) == 1 and listed[0].startswith("- **ATAS vs PGD-10") and "**reproduced**" in listed[0]


def test_which_method_lists_rows_timed_on_other_machines_by_accuracy_and_passes_not_time():
    pgd10 = [_scored(s, 100.0, 0.87) for s in range(3)]
    trades = [_scored(s, 300.0, 0.82) for s in range(3)]
    for rec in pgd10:
        rec["backward_passes"] = 30954
    for rec in trades:
        rec["backward_passes"] = 33768
        rec["machine"]["host"] = "29f80fcd"  # another boot: no time ratio to PGD-10
    page = "\n".join(which_method({"mnist-recipe": {"pgd-10": pgd10, "trades": trades}}))
    line = next(x for x in page.splitlines() if x.startswith("- **Not ranked by time**"))
    assert "PGD-10 30,954" in line and "``trades`` (82.0% AA, -5.0 points, 33,768 backward passes, 3 seeds)" in line
    assert "``trades``" not in page.split("- **Not ranked by time**")[0]  # not in the time-based advice
    del trades[0]["machine"]["host"]  # seed 0 timed on PGD-10's machine: ranked by time, not listed here
    page = "\n".join(which_method({"mnist-recipe": {"pgd-10": pgd10, "trades": trades}}))
    assert "Not ranked by time" not in page


def test_which_method_gives_the_averaging_reading_of_each_pair():
    runs = {"pgd-10": _aa_runs([0.20, 0.21, 0.22]), "pgd-10-ema": _aa_runs([0.18, 0.19, 0.20]),
            "nfgsm": _aa_runs([0.24, 0.25, 0.26]), "nfgsm-ema": _aa_runs([0.245, 0.255, 0.265])}
    for recs in runs.values():
        for rec in recs:
            rec.update(machine={"cpu": "X", "torch_threads": "1"}, train_seconds=100.0, history=None)
    mnist = {"pgd-10": [_scored(s, 100.0, 0.87) for s in range(3)]}
    page = "\n".join(which_method({"mnist-recipe": mnist, "cifar10-recipe": runs}))
    line = next(x for x in page.splitlines() if x.startswith("- **Weight averaging**"))
    assert "``pgd-10``: hurts (-2.0 points of AA with ``pgd-10-ema``, 3 seeds)" in line
    assert "``nfgsm``: no difference (+0.5 points of AA with ``nfgsm-ema``, 3 seeds)" in line
    assert "atas" not in line  # no rows, no reading
