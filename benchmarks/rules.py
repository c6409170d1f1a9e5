"""
The protocol's rules (docs/benchmarks/protocol.md), fixed before the runs they judge: when a run counts as
trained, the claims and their limits, the collapse rule for catastrophic overfitting and its verdict, and the
reading of the co_signature reruns. Pure Python over result records: no plotting, no torch.
"""
from __future__ import annotations

from statistics import fmean
from typing import Dict, List, Optional, Tuple

Runs = Dict[str, List[dict]]


#: The protocol's "trained": validation PGD accuracy reached this at some epoch (left the 10-13% plateau) ...
LEFT_PLATEAU = 0.15


#: ... and the final clean accuracy is above this.
CLEAN_MIN = 0.20


def curve(rec: dict) -> List[float]:
    """Validation PGD-10 accuracy per epoch ([] without a history)."""
    hist = rec.get("history") or {}
    return [x.get("val_robust_accuracy") or 0.0 for x in hist.get("records", [])]


def did_train(rec: dict) -> bool:
    vals = curve(rec)
    left = max(vals) >= LEFT_PLATEAU if vals else True
    return left and rec["evaluation"]["clean"] > CLEAN_MIN


def trained(recs: List[dict]) -> List[dict]:
    """The runs that trained; all of them when none did (so a row still shows what happened)."""
    return [r for r in recs if did_train(r)] or recs


#: The claims and their rules, exactly as fixed in docs/benchmarks/protocol.md before the runs:
#: (method, reference, what the paper says, max time ratio, max AA drop in points).
CLAIMS = (
    ("mplus-deat", "pgd-7", "M+DEAT vs PGD-7: about 35% faster, comparable robustness", 0.75, 2.0),
    ("mplus-pgd", "pgd-10", "M+PGD vs PGD-10: M+ speeds up PGD-AT at comparable robustness", 0.75, 2.0),
    ("amata", "pgd-10", "Amata vs PGD-10: similar robustness at 0.55-0.62x the time", 0.70, 2.0),
    ("gaat", "pgd-10", "GAAT vs PGD-10: 30-60% less time, 1-2 points lower PGD", 0.70, 3.0),
    ("atas", "pgd-10", "ATAS vs PGD-10: AA within about a point at about a quarter of the time", 0.35, 1.5),
    ("atas", "art-madry-pgd-10", "the package's promise, ATAS vs ART's Madry PGD-10: same robustness in a "
     "fraction of the time", 0.25, 2.0),
)


#: The configuration the headline verdicts are judged on.
CLAIMS_CONFIG = "mnist-recipe"


#: Configurations whose claims are judged by the same rules, reported as separate sets of verdicts (the protocol's
#: 2026-11-30 04:35 amendment adds the CIFAR recipe as the second, its 2026-12-02 amendment the ATAS authors'
#: recipe as the third; a claim whose rows a configuration does not run is not listed for it).
CLAIMS_CONFIGS = (CLAIMS_CONFIG, "cifar10-recipe", "cifar10-atas-recipe")


#: Accuracies are stored as float32 (counts over 500 images), so a mean difference of exactly 2 points can compute as
#: -2.00000008 points; comparisons of differences allow this much (far below one image in 1,500: 6.7e-4).
ROUNDING = 1e-6


def within(diff: Optional[float], points: float) -> bool:
    """``diff`` (a fraction) is at most ``points`` percentage points below zero, up to float32 rounding."""
    return diff is not None and diff >= -points / 100 - ROUNDING


#: The collapse rule's floor: validation PGD accuracy below it (and below half the earlier best) is a collapse.
COLLAPSE_FLOOR = 0.05


def fgsm_step(kwargs: Dict, eps: float) -> float:
    """The FGSM-RS step a run used: its ``eps_step`` or the trainer's default, 1.25 eps."""
    return kwargs.get("eps_step", 1.25 * eps)


def collapsed(vals: List[float]) -> bool:
    """Catastrophic overfitting: at some epoch the validation PGD accuracy is below 5% and below half the
    best value of the epochs before it."""
    return any(v < COLLAPSE_FLOOR and v < 0.5 * max(vals[:i]) for i, v in enumerate(vals) if i > 0)


#: Configurations that test ATAS against catastrophic overfitting, and the FGSM-RS row that should collapse there.
CO_CONFIGS = {"cifar10-co": "fgsm-rs-14", "cifar10-co-16": "fgsm-rs"}


#: Seeds the overfitting rule counts (protocol: FGSM-RS must collapse on at least 2 of 3).
CO_SEEDS, CO_NEEDED = 3, 2


def co_verdict(cfg_name: str, co: Runs) -> Tuple[str, Dict[str, Tuple[int, int]]]:
    """The protocol's verdict on ATAS vs FGSM-RS in ``cfg_name`` and the (collapsed, seeds) count per method.

    Final once the FGSM-RS seeds left cannot reach the qualifying count, or once ATAS collapsed in a qualifying
    setting; "no verdict yet" while seeds are missing."""
    fgsm = CO_CONFIGS[cfg_name]
    counts = {m: (sum(collapsed(curve(r)) for r in co.get(m, [])), len(co.get(m, []))) for m in (fgsm, "atas")}
    (f_co, f_n), (a_co, a_n) = counts[fgsm], counts["atas"]
    if f_co + max(0, CO_SEEDS - f_n) < CO_NEEDED:
        verdict = (f"**not testable here**: {fgsm} collapsed on {f_co}/{f_n} seeds (the setting needs at least "
                   f"{CO_NEEDED} of {CO_SEEDS})" + ("; ATAS' runs there are a description, they test nothing" if a_n
                                                     else ", so ATAS was not run there"))
    elif f_co >= CO_NEEDED and a_co:
        verdict = f"**not reproduced**: {fgsm} collapsed on {f_co}/{f_n} seeds and ATAS too ({a_co}/{a_n})"
    elif f_co >= CO_NEEDED and a_n >= CO_SEEDS:
        verdict = f"**reproduced**: {fgsm} collapsed on {f_co}/{f_n} seeds, ATAS on 0/{a_n}"
    else:
        atas = f"ATAS on {a_co}/{a_n}" if a_n else "ATAS not run yet"
        verdict = f"no verdict yet: {fgsm} collapsed on {f_co}/{f_n} seeds, {atas} (the rule needs {CO_SEEDS} seeds)"
    return verdict, counts


#: The protocol's parity: AutoAttack differences up to this many points count as the same robustness.
PARITY = 2.0


#: Training images' PGD-20 accuracy under which, with FGSM accuracy at least FGSM_RATIO times it, a run reads as
#: catastrophic overfitting; a training PGD-20 accuracy at least RO_RATIO times the test one reads as robust
#: overfitting (protocol amendment 2026-11-30 08:17 UTC).
CO_PGD, FGSM_RATIO, RO_RATIO = 0.10, 3.0, 2.0


def reading(train: Dict[str, float], test: Dict[str, float]) -> str:
    """The protocol's reading of one run's accuracies."""
    if train["pgd20"] < CO_PGD and train["fgsm"] >= FGSM_RATIO * train["pgd20"]:
        return "catastrophic overfitting"
    if train["pgd20"] >= RO_RATIO * test["pgd20"]:
        return "robust overfitting"
    return "neither"


#: (configuration, method without averaging, the same with EMA(0.999)): the amendments of 2026-12-02 (PGD-10, ATAS)
#: and 2026-12-06 12:53 UTC (N-FGSM, the best single-step row)
AVERAGING_PAIRS = (("cifar10-recipe", "pgd-10", "pgd-10-ema"), ("cifar10-recipe", "atas", "atas-w2-ema"),
                   ("cifar10-recipe", "nfgsm", "nfgsm-ema"))
#: The amendment's reading: averaging helps (hurts) if the mean AutoAttack is more than this many points above
#: (below) the rows without it on the same seeds
AVERAGING_POINTS = 1.0


def averaging_reading(plain: List[dict], ema: List[dict]) -> Optional[Tuple[List[int], List[dict], List[dict], float,
                                                                            str]]:
    """(seeds, runs without, runs with, AutoAttack points with minus without, reading) on the seeds both have
    AutoAttack for; None when they share none."""
    with_aa = [{r["seed"]: r for r in recs if "autoattack" in r["evaluation"]} for recs in (plain, ema)]
    seeds = sorted(set(with_aa[0]) & set(with_aa[1]))
    if not seeds:
        return None
    a, b = ([runs[s] for s in seeds] for runs in with_aa)
    diff = 100 * (fmean(r["evaluation"]["autoattack"] for r in b) - fmean(r["evaluation"]["autoattack"] for r in a))
    text = "helps" if diff > AVERAGING_POINTS else "hurts" if diff < -AVERAGING_POINTS else "no difference"
    if len(seeds) < 3:
        text += f" (provisional: {len(seeds)} of 3 seeds)"
    return seeds, a, b, diff, text
