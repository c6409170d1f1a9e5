"""
Result records of benchmarks/run.py: loading, statistics over seeds and the cells the pages print.
"""
from __future__ import annotations

import glob
import json
import os
import statistics
from collections import defaultdict
from typing import Dict, List, Optional

from configs import CONFIGS
from rules import Runs, curve, trained

HERE = os.path.dirname(os.path.abspath(__file__))


def load(results_dir: str) -> Dict[str, Runs]:
    """{config: {method: [records over seeds]}} for the configurations still reported, at their epochs."""
    out: Dict[str, Runs] = defaultdict(lambda: defaultdict(list))
    for path in sorted(glob.glob(os.path.join(results_dir, "*.json"))):
        with open(path, encoding="utf-8") as f:
            rec = json.load(f)
        cfg = CONFIGS.get(rec["config"])
        if cfg is not None and rec["epochs"] == cfg.epochs and not cfg.superseded_by:
            out[rec["config"]][rec["method"]].append(rec)
    return out


def _values(recs, key):
    vals = []
    for r in recs:
        v = r["evaluation"].get(key) if key in r["evaluation"] else r.get(key)
        if v is not None:
            vals.append(float(v))
    return vals


def mean(recs, key) -> Optional[float]:
    vals = _values(recs, key)
    return statistics.fmean(vals) if vals else None


def fmt(recs, key, scale=1.0, digits=1, spread=True) -> str:
    """Mean ± sample standard deviation over the runs (the mean alone for one run)."""
    vals = [v * scale for v in _values(recs, key)]
    if not vals:
        return "-"
    m = statistics.fmean(vals)
    if spread and len(vals) > 1:
        return f"{m:.{digits}f} ± {statistics.stdev(vals):.{digits}f}"
    return f"{m:.{digits}f}"


def machine(rec: dict) -> str:
    """The CPU, torch threads and host boot a run was timed on: only runs on the same one are compared by time
    (runs recorded before the boot was, 2026-12-03, carry none and count as one earlier machine per CPU label)."""
    m = rec.get("machine", {})
    label = f"{m.get('cpu', 'unknown')} ({m.get('torch_threads', '?')} torch thread(s))"
    return f"{label}, boot {m['host']}" if m.get("host") else label


def seconds_by_seed(recs: List[dict]) -> Dict[tuple, float]:
    """Training seconds keyed by (seed, machine): the runs another run's time may be divided by."""
    return {(r["seed"], machine(r)): r["train_seconds"] for r in recs}


def _per_seed_ratios(ra: List[dict], rb: List[dict]) -> Dict[int, float]:
    """Seed -> training-time ratio, for the seeds whose two runs were timed on the same machine."""
    tb = seconds_by_seed(rb)
    return {r["seed"]: r["train_seconds"] / tb[r["seed"], machine(r)] for r in ra if (r["seed"], machine(r)) in tb}


def timed_pairs(ra: List[dict], rb: List[dict]) -> List[int]:
    """The seeds whose two runs were timed on the same machine (the seeds :func:`time_ratio` pairs)."""
    return sorted(_per_seed_ratios(ra, rb))


def time_ratio(ra: List[dict], rb: List[dict]) -> Optional[float]:
    """Mean of the per-seed training-time ratios over the seeds both have, timed on the same machine; the ratio
    of means when no seed is shared but every run ran on one machine; None otherwise."""
    if not ra or not rb:
        return None
    per_seed = list(_per_seed_ratios(ra, rb).values())
    if per_seed:
        return statistics.fmean(per_seed)
    if len({machine(r) for r in ra + rb}) == 1:
        return mean(ra, "train_seconds") / mean(rb, "train_seconds")
    return None


def machines_note(methods: Runs) -> str:
    """Which seeds ran on which machine, when a configuration's runs span more than one."""
    seeds = defaultdict(set)
    for recs in methods.values():
        for r in recs:
            seeds[machine(r)].add(r["seed"])
    if len(seeds) < 2:
        return ""
    parts = [f"seed{'s' if len(v) > 1 else ''} {', '.join(map(str, sorted(v)))} on {k}"
             for k, v in sorted(seeds.items(), key=lambda x: min(x[1]))]
    return ("Runs were timed on more than one machine: " + "; ".join(parts)
        + ". Seconds from different machines do not compare: the time ratios pair runs of the same seed on the "
          "same machine, and the train s spread includes the machines' difference.")


def robustness_target(methods: Runs) -> Optional[float]:
    """PGD-10's final validation PGD accuracy, mean over its trained seeds (the time-to-robustness target)."""
    finals = [curve(r)[-1] for r in trained(methods.get("pgd-10", [])) if curve(r)]
    return statistics.fmean(finals) if finals else None


def time_to(rec: dict, target: float) -> Optional[float]:
    """Training wall time at the end of the first epoch whose validation PGD accuracy reaches ``target``."""
    for x in (rec.get("history") or {}).get("records", []):
        if (x.get("val_robust_accuracy") or 0.0) >= target - 1e-12:
            return x["elapsed_seconds"]
    return None


def time_to_cell(recs: List[dict], target: Optional[float], pgd10: List[dict]) -> str:
    """Median seconds to ``target`` over the seeds that reached it (how many did), and the median of those times
    over PGD-10's whole training time on the same seed and machine."""
    if target is None or not any(r.get("history") for r in recs):
        return "-"
    times = [(r, time_to(r, target)) for r in recs]
    reached = [(r, t) for r, t in times if t is not None]
    if not reached:
        return f"never (0/{len(times)})"
    ref = seconds_by_seed(pgd10)
    rel = [t / ref[r["seed"], machine(r)] for r, t in reached if (r["seed"], machine(r)) in ref]
    return (f"{statistics.median([t for _, t in reached]):.0f} s ({len(reached)}/{len(times)})"
            + (f", {statistics.median(rel):.2f}x" if rel else ""))


def aa_cell(recs: List[dict]) -> str:
    """AutoAttack mean ± std, with the number of seeds evaluated when some are still pending."""
    n = len(_values(recs, "autoattack"))
    if n == 0:
        return "pending" if any(r["n_autoattack"] for r in recs) else "not run"
    return fmt(recs, "autoattack", 100) + (f" ({n}/{len(recs)} seeds)" if n < len(recs) else "")


def ordered(cfg_name: str, methods: Runs) -> List[str]:
    cfg = CONFIGS[cfg_name]
    return [m for m in cfg.methods if m in methods] + sorted(set(methods) - set(cfg.methods))


def _read_all(pattern: str) -> List[dict]:
    """Every JSON file matching ``pattern``, in name order."""
    recs = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as f:
            recs.append(json.load(f))
    return recs


def co_signatures(results_dir: str) -> List[dict]:
    """``benchmarks/co_signature.py``'s reruns (catastrophic or robust overfitting)."""
    return _read_all(os.path.join(results_dir, "co_signature", "*.json"))


def co_probes(results_dir: str) -> List[dict]:
    """The probe runs that searched the CIFAR subset for a setting where FGSM-RS collapses."""
    return _read_all(os.path.join(results_dir, "probe", "cifar10-co-probe*.json"))


def _pts(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} points"


def _diff(ra, rb, key) -> Optional[float]:
    """Difference of means over the seeds where both have ``key`` (so a pending AutoAttack does not mix seeds)."""
    has = [{r["seed"] for r in recs if _values([r], key)} for recs in (ra, rb)]
    shared = has[0] & has[1]
    va, vb = (mean([r for r in recs if r["seed"] in shared], key) for recs in (ra, rb))
    return None if va is None or vb is None else va - vb


def _seeds(n: int) -> str:
    return f"{n} seed" + ("s" if n != 1 else "")
