"""
Build docs/benchmarks/results.md, its plots and the "Which method should I use?" page from the JSON results of
benchmarks/run.py. Every number is read from a result file; the rules that judge the papers' claims are the
ones fixed beforehand in docs/benchmarks/protocol.md.

    python benchmarks/report.py [--results benchmarks/results] [--out docs/benchmarks] [--guide docs/which_method.rst]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

from configs import CONFIGS, method_spec

HERE = os.path.dirname(os.path.abspath(__file__))
Runs = Dict[str, List[dict]]


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


def machine(rec: dict) -> str:
    """The CPU and torch threads a run was timed on: only runs on the same one are compared by time."""
    m = rec.get("machine", {})
    return f"{m.get('cpu', 'unknown')} ({m.get('torch_threads', '?')} torch thread(s))"


def seconds_by_seed(recs: List[dict]) -> Dict[tuple, float]:
    """Training seconds keyed by (seed, machine): the runs another run's time may be divided by."""
    return {(r["seed"], machine(r)): r["train_seconds"] for r in recs}


def time_ratio(ra: List[dict], rb: List[dict]) -> Optional[float]:
    """Mean of the per-seed training-time ratios over the seeds both have, timed on the same machine; the ratio
    of means when no seed is shared but every run ran on one machine; None otherwise."""
    if not ra or not rb:
        return None
    tb = seconds_by_seed(rb)
    per_seed = [r["train_seconds"] / tb[r["seed"], machine(r)] for r in ra if (r["seed"], machine(r)) in tb]
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


def table(cfg_name: str, methods: Runs) -> List[str]:
    cfg = CONFIGS[cfg_name]
    first = next(iter(methods.values()))[0]
    n_aa, n_eval = first["n_autoattack"], first["n_eval"]
    target = robustness_target(methods)
    pgd10 = trained(methods.get("pgd-10", []))
    art = trained(methods.get("art-madry-pgd-10", []))
    to = f"time to PGD-10's robustness ({100 * target:.1f}%)" if target is not None else "time to PGD-10's robustness"
    lines = [
        f"| method | seeds trained | train s | x PGD-10 | x ART Madry | backward passes | clean % | PGD-20 % "
        f"| CW-20 % | AA % (n={n_aa}) | {to} |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in ordered(cfg_name, methods):
        recs = trained(methods[m])
        n_ok = sum(did_train(r) for r in methods[m])
        r10, rart = time_ratio(recs, pgd10), time_ratio(recs, art)
        name = f"**{m}**" if m in cfg.headline else m
        lines.append(
            f"| {name} | {n_ok}/{len(methods[m])} | {fmt(recs, 'train_seconds', digits=0)} "
            f"| {'-' if r10 is None else f'{r10:.2f}'} | {'-' if rart is None else f'{rart:.2f}'} "
            f"| {fmt(recs, 'backward_passes', digits=0, spread=False)} | {fmt(recs, 'clean', 100)} "
            f"| {fmt(recs, 'pgd20', 100)} | {fmt(recs, 'cw20', 100)} | {aa_cell(recs)} "
            f"| {time_to_cell(recs, target, pgd10)} |")
    failed = [f"{m} seed {r['seed']}" for m in ordered(cfg_name, methods) for r in methods[m] if not did_train(r)]
    lines.append("")
    if failed:
        lines.append("Runs that did not train (validation PGD never reached 15%, or clean accuracy at most 20%), "
                     "left out of the means: " + "; ".join(failed) + ".")
    else:
        lines.append("Every run trained (validation PGD reached at least 15% and final clean accuracy is above "
                     "20%).")
    if cfg.headline:
        short = [m for m in cfg.headline if sum(did_train(r) for r in methods.get(m, [])) < 3]
        lines.append("Bold: the headline rows, 3 trained seeds each" + (
            f" (short of 3 trained seeds: {', '.join(short)})." if short else "."))
    aa = f"AutoAttack (standard) on the first {n_aa}" if n_aa else "no AutoAttack"
    lines.append(f"Clean, PGD-20 and CW-20 on the first {n_eval} test images; {aa}. Mean ± sample standard "
                 "deviation over seeds; time ratios are means of per-seed ratios. Time to robustness: median over "
                 "the seeds that reached PGD-10's final validation PGD accuracy (validation: the last "
                 f"{cfg.n_val} test images, PGD-10 at the full eps) of the training time at the end of that epoch. "
                 "The x after it: the median of those times over PGD-10's whole training time on the same seed "
                 "(and machine). ART's passes are counted with module hooks as sample passes over the batch size.")
    note = machines_note(methods)
    if note:
        lines.append(note)
    return lines


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_time_to_robustness(cfg_name: str, methods: Runs, out_dir: str) -> str:
    """Validation PGD accuracy against training wall time, every seed, one colour per method."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    machines = sorted({machine(r) for recs in methods.values() for r in recs})
    styles = ["-", "--", ":", "-."]
    for i, m in enumerate(ordered(cfg_name, methods)):
        color = plt.cm.tab10(i % 10)
        for j, r in enumerate(trained(methods[m])):
            rows = (r.get("history") or {}).get("records", [])
            if rows:
                ax.plot([0] + [x["elapsed_seconds"] for x in rows], [None] + [100 * x["val_robust_accuracy"]
                        for x in rows], marker="o", ls=styles[machines.index(machine(r)) % len(styles)], ms=2.5,
                        lw=1, color=color, alpha=0.85, label=m if j == 0 else None)
    if len(machines) > 1:
        for k, name in enumerate(machines):
            ax.plot([], [], ls=styles[k % len(styles)], color="grey", label=name.split(" (")[0])
    target = robustness_target(methods)
    if target is not None:
        ax.axhline(100 * target, color="k", ls="--", lw=0.8, label="PGD-10's final (target)")
    ax.set_xscale("log")
    ax.set_xlabel("training wall time (s, log scale)")
    ax.set_ylabel("validation PGD-10 accuracy (%)")
    ax.set_title(f"{cfg_name}: time to robustness (every seed; validation after each epoch)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    name = f"{cfg_name}_time_to_robustness.png"
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name


def plot_collapse(cfg_name: str, methods: Runs, out_dir: str) -> str:
    """Validation PGD accuracy per epoch, every seed, against the collapse rule's 5% line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    styles = ["-", "--", ":", "-."]
    for i, m in enumerate(ordered(cfg_name, methods)):
        for j, r in enumerate(sorted(methods[m], key=lambda r: r["seed"])):
            vals = curve(r)
            ax.plot(range(1, len(vals) + 1), [100 * v for v in vals], marker="o", ms=2.5, lw=1,
                    ls=styles[j % len(styles)], color=plt.cm.tab10(i % 10), alpha=0.85,
                    label=f"{m} seed {r['seed']}" + (" (collapsed)" if collapsed(vals) else ""))
    ax.axhline(100 * COLLAPSE_FLOOR, color="k", ls="--", lw=0.8,
               label=f"{100 * COLLAPSE_FLOOR:g}%: the collapse rule's floor")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation PGD-10 accuracy (%)")
    ax.set_title(f"{cfg_name}: catastrophic overfitting check (every seed)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    name = f"{cfg_name}_collapse.png"
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name


def plot_schedules(cfg_name: str, methods: Runs, out_dir: str) -> str:
    plt = _plt()
    keys = [("k", "k (steps / replays after the first)"), ("eps", "eps"), ("step", "mean step size")]
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 6.5), sharex=True)
    for i, m in enumerate(ordered(cfg_name, methods)):
        hist = methods[m][0].get("history")
        if not hist:
            continue
        rows = hist["records"]
        for ax, (key, _) in zip(axes, keys):
            vals = [x.get("step_mean", x.get("eps_step")) if key == "step" else x.get(key) for x in rows]
            ax.plot([x["epoch"] for x in rows], [float("nan") if v is None else v for v in vals], "-o", ms=2,
                    color=plt.cm.tab10(i % 10), label=m)
    for ax, (_, label) in zip(axes, keys):
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=3)
    axes[-1].set_xlabel("epoch (0-based)")
    fig.suptitle(f"{cfg_name}: each method's schedule per epoch (first seed)", fontsize=10)
    fig.tight_layout()
    name = f"{cfg_name}_schedules.png"
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name


def method_figures(cfg_name: str, methods: Runs, out_dir: str) -> List[str]:
    """The papers' own figures from the first trained seed: ATAS' Figure 10, M+'s Figure 6, ECAS' Figure 2."""
    plt = _plt()
    from art_accel.history import TrainingHistory
    from art_accel.plots import plot_eps_distribution, plot_k_and_magnitude, plot_step_vs_grad_norm

    files = []
    for method, plot in (("atas", plot_step_vs_grad_norm), ("mplus-deat", plot_k_and_magnitude),
                         ("ecas", plot_eps_distribution)):
        hist = trained(methods[method])[0].get("history") if method in methods else None
        if hist:
            name = f"{cfg_name}_{method}.png"
            plot(TrainingHistory.from_dict(hist), os.path.join(out_dir, name))
            plt.close("all")
            files.append(name)
    return files


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
#: 2026-11-30 04:35 amendment adds the CIFAR recipe as the second).
CLAIMS_CONFIGS = (CLAIMS_CONFIG, "cifar10-recipe")


#: Accuracies are stored as float32 (counts over 500 images), so a mean difference of exactly 2 points can compute as
#: -2.00000008 points; comparisons of differences allow this much (far below one image in 1,500: 6.7e-4).
ROUNDING = 1e-6


def within(diff: Optional[float], points: float) -> bool:
    """``diff`` (a fraction) is at most ``points`` percentage points below zero, up to float32 rounding."""
    return diff is not None and diff >= -points / 100 - ROUNDING


def _pts(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} points"


def _diff(ra, rb, key) -> Optional[float]:
    """Difference of means over the seeds where both have ``key`` (so a pending AutoAttack does not mix seeds)."""
    has = [{r["seed"] for r in recs if _values([r], key)} for recs in (ra, rb)]
    shared = has[0] & has[1]
    va, vb = (mean([r for r in recs if r["seed"] in shared], key) for recs in (ra, rb))
    return None if va is None or vb is None else va - vb


def _k_note(method: str, recs: List[dict]) -> str:
    """For M+ methods: k per epoch and the magnitude against the threshold, first seed (why k did or did not grow)."""
    if not method.startswith("mplus") or not recs[0].get("history"):
        return ""
    rows = recs[0]["history"]["records"]
    mags = ", ".join(f"{x['grad_magnitude']:.3g}" for x in rows if x.get("grad_magnitude") is not None)
    thr = [x["threshold"] for x in rows if x.get("threshold") is not None]
    return (f" k per epoch (seed {recs[0]['seed']}): {[x.get('k') for x in rows]}; gradient magnitude per epoch "
            f"{mags}" + (f" against the threshold {thr[-1]:.3g}" if thr else "") + ".")


def _n_shared(ra, rb, key) -> int:
    """How many seeds both have ``key`` for."""
    return len({r["seed"] for r in ra if _values([r], key)} & {r["seed"] for r in rb if _values([r], key)})


def _seeds(n: int) -> str:
    return f"{n} seed" + ("s" if n != 1 else "")


def _provisional(n_aa: int) -> str:
    """The protocol judges on 3 seeds: a verdict on fewer is marked provisional."""
    return "" if n_aa >= 3 else f" (provisional: the protocol asks for 3 seeds, AA exists for {n_aa})"


def claims(data: Dict[str, Runs], cfg_name: str = CLAIMS_CONFIG) -> List[str]:
    """Each claim's measured numbers on ``cfg_name`` and its verdict by the protocol's rule."""
    d = data.get(cfg_name, {})
    lines = [f"### {cfg_name}" + ("" if cfg_name == CLAIMS_CONFIG else " (second set of verdicts, same rules)"), ""]
    for a, b, paper, max_ratio, max_drop in CLAIMS:
        ra, rb = (trained(d.get(m, [])) for m in (a, b))
        if not ra or not rb:
            lines.append(f"- **{paper}**: not run yet ({a if not ra else b} has no result).")
            continue
        r, daa = time_ratio(ra, rb), _diff(ra, rb, "autoattack")
        if daa is None:
            lines.append(f"- **{paper}**. Measured ({_seeds(min(len(ra), len(rb)))}): time x{r:.2f}; AutoAttack "
                         f"pending, so no verdict yet (rule: time <= {max_ratio:.2f}x and AA at most {max_drop:g} "
                         "points lower).")
            continue
        ok = r <= max_ratio and within(daa, max_drop)
        n_aa = _n_shared(ra, rb, "autoattack")
        lines.append(f"- **{paper}**. Measured (time on {_seeds(min(len(ra), len(rb)))}, AA on the {n_aa} both "
                     f"have): time x{r:.2f}, "
                     f"AA {_pts(daa)}. "
                     f"Rule: time <= {max_ratio:.2f}x and AA at most {max_drop:g} points lower -> "
                     f"**{'reproduced' if ok else 'not reproduced'}**{_provisional(n_aa)}.{_k_note(a, ra)}")
    ra, rb = trained(d.get("ecas", [])), trained(d.get("pgd-10", []))
    ecas = "**ECAS vs PGD-10 with fixed eps: better clean and AA at < 1% extra time**"
    if ra and rb:
        r, dc, daa = time_ratio(ra, rb), _diff(ra, rb, "clean"), _diff(ra, rb, "autoattack")
        if daa is None:
            lines.append(f"- {ecas}. Measured ({_seeds(min(len(ra), len(rb)))}): clean {_pts(dc)}, time x{r:.2f}; "
                         "AutoAttack pending, so no verdict yet (rule: clean and AA both higher, time <= 1.01x).")
        else:
            ok = dc is not None and dc > ROUNDING and daa > ROUNDING and r <= 1.01
            n_aa = _n_shared(ra, rb, "autoattack")
            lines.append(f"- {ecas}. Measured (time on {_seeds(min(len(ra), len(rb)))}, AA on the {n_aa} both have): "
                         f"clean {_pts(dc)}, AA {_pts(daa)}, time x{r:.2f}. Rule: clean and AA both higher, time <= "
                         f"1.01x -> **{'reproduced' if ok else 'not reproduced'}**{_provisional(n_aa)} (our PGD base "
                         "pays one clean forward per batch for the entropy).")
    lines.append("")
    return lines


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


def overfitting_check(cfg_name: str, co: Runs) -> List[str]:
    """ATAS' claim: no catastrophic overfitting where FGSM-RS collapses; the verdict counts seeds."""
    if CO_CONFIGS[cfg_name] not in co:
        return []
    verdict, counts = co_verdict(cfg_name, co)
    lines = [f"### Catastrophic overfitting ({cfg_name})", ""]
    for m in [m for m in ordered(cfg_name, co) if m in counts]:
        for r in sorted(co[m], key=lambda r: r["seed"]):
            lines.append(f"- {m}, seed {r['seed']}: final clean {100 * r['evaluation']['clean']:.1f}%, PGD-20 "
                         f"{100 * r['evaluation']['pgd20']:.1f}%; validation PGD-10 % per epoch "
                         f"{', '.join(f'{100 * v:.0f}' for v in curve(r))}; "
                         f"{'collapsed' if collapsed(curve(r)) else 'no collapse'}.")
    lines += ["", "Paper: ATAS shows no catastrophic overfitting where FGSM-RS collapses. Rule (protocol): "
              "collapse = at some epoch the validation PGD accuracy is below 5% and below half the best earlier "
              f"value; the setting qualifies if {CO_CONFIGS[cfg_name]} collapses on at least {CO_NEEDED} of "
              f"{CO_SEEDS} seeds; reproduced if ATAS collapses on none. Verdict: {verdict}.", ""]
    return lines


def _overfitting_advice(data: Dict[str, Runs], probes: List[dict], signatures: List[dict] = ()) -> List[str]:
    """The which-method line on catastrophic overfitting: each overfitting setting's verdict, and the probes."""
    found = []
    for name, fgsm in CO_CONFIGS.items():
        if fgsm in data.get(name, {}):
            cfg = CONFIGS[name]
            step = fgsm_step(method_spec(cfg, fgsm)[1], cfg.eps)
            verdict = co_verdict(name, data[name])[0].replace("**", "")
            if "atas" in data[name]:
                verdict += (f" (final PGD-20: {fgsm} {fmt(data[name][fgsm], 'pgd20', 100)}%, ATAS "
                            f"{fmt(data[name]['atas'], 'pgd20', 100)}%)")
            found.append(f"``{name}`` (width {cfg.width}, FGSM-RS with a {255 * step:.0f}/255 step at "
                         f"{255 * cfg.eps:.0f}/255): {verdict}")
    n_co = sum(collapsed(curve(r)) for r in probes)
    probed = (f"FGSM-RS collapsed in {n_co} of the {len(probes)} CIFAR-subset settings probed (see the results "
              "page)") if probes else ""
    reruns = [f"{r['config']} {r['method']} seed {r['seed']}: {r['reading']}, PGD-20 {100 * r['train']['pgd20']:.1f}% "
              f"on training images vs {100 * r['test']['pgd20']:.1f}% on test images" for r in signatures]
    if found:
        text = ("in the CIFAR-subset settings built to provoke it: " + "; ".join(found) + "."
                + (f" {probed}." if probed else "")
                + (" Where robustness fell, the reruns read it as " + "; ".join(reruns) + "." if reruns else ""))
    elif probes:
        text = (f"no evidence here yet. {probed}, so these benchmarks cannot say whether ATAS avoids a collapse that "
                "FGSM-RS suffers.")
    else:
        return []
    return ["- **Single-step training where catastrophic overfitting is a risk**: " + text, ""]


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


def overfitting_signatures(recs: List[dict]) -> List[str]:
    """The ``co_signatures`` as a table, with the protocol's reading."""
    if not recs:
        return []
    from co_signature import CO_PGD, FGSM_RATIO, RO_RATIO

    lines = ["### Catastrophic or robust overfitting?", "",
             "To tell the two apart where validation robustness fell, `benchmarks/co_signature.py` retrained each run "
             "below (same configuration and seed) and measured the final model on the first 1,000 training and the "
             "first 1,000 test images. FGSM: no random start, one step of eps. Reading (protocol, fixed before the "
             f"runs): catastrophic overfitting if PGD-20 accuracy on the training images is below {100 * CO_PGD:.0f}% "
             f"and their FGSM accuracy at least {FGSM_RATIO:g} times it; else robust overfitting if PGD-20 accuracy "
             f"on the training images is at least {RO_RATIO:g} times the test images'; else neither. A description: "
             "no verdict depends on it.", "",
             "| run | train clean / FGSM / PGD-20 % | test clean / FGSM / PGD-20 % | rerun's validation curve vs "
             "committed (max abs diff) | reading |", "|---|---|---|---|---|"]
    for r in recs:
        cells = [" / ".join(f"{100 * r[part][k]:.1f}" for k in ("clean", "fgsm", "pgd20"))
                 for part in ("train", "test")]
        diff = r["curve_max_abs_diff"]
        lines.append(f"| {r['config']} {r['method']} seed {r['seed']} | {cells[0]} | {cells[1]} "
                     f"| {'length differs' if diff is None else f'{diff:.3g}'} | {r['reading']} |")
    return lines + [""]


def co_probes(results_dir: str) -> List[dict]:
    """The probe runs that searched the CIFAR subset for a setting where FGSM-RS collapses."""
    return _read_all(os.path.join(results_dir, "probe", "cifar10-co-probe*.json"))


def overfitting_search(recs: List[dict]) -> List[str]:
    """The catastrophic-overfitting search (``co_probes``), judged by the protocol's collapse rule."""
    if not recs:
        return []
    lines = ["### Catastrophic overfitting: the search on the CIFAR subset", "",
             "FGSM-RS probe runs (seed 0, no AutoAttack; `benchmarks/results/probe/`): PreAct-ResNet-18, SGD "
             "momentum 0.9 wd 5e-4, batch 128, one-cycle LR to 0.2 per batch, no augmentation. Step = FGSM-RS step "
             "after a uniform start in the ball.", "",
             "| configuration | width | eps | step | epochs | final clean % | final PGD-20 % | validation PGD-10 % "
             "(min after epoch 3 / best / last) | collapsed |", "|---|---|---|---|---|---|---|---|---|"]
    n_collapsed = 0
    for r in recs:
        cfg = CONFIGS[r["config"]]
        vals = curve(r)
        step = fgsm_step(r["kwargs"], r["eps"])
        n_collapsed += collapsed(vals)
        lines.append(f"| {r['config']} | {cfg.width} | {255 * r['eps']:.0f}/255 | {255 * step:.1f}/255 "
                     f"| {r['epochs']} | {100 * r['evaluation']['clean']:.1f} | {100 * r['evaluation']['pgd20']:.1f} "
                     f"| {100 * min(vals[3:]):.1f} / {100 * max(vals):.1f} / {100 * vals[-1]:.1f} "
                     f"| {'yes' if collapsed(vals) else 'no'} |")
    verdict = ("**not testable here**: FGSM-RS did not collapse in any probed setting, so ATAS has nothing to avoid "
               "(ATAS' own runs there would test nothing and were not made)") if n_collapsed == 0 else (
               f"FGSM-RS collapsed in {n_collapsed} of {len(recs)} probed settings: run the seeds there")
    lines += ["", "A step of 2 eps or more lands every pixel on the ball's surface (the projection erases the random "
              "start), so the 16/255 and 24/255 rows are the same algorithm; their identical curves confirm it. "
              f"Verdict on ATAS vs FGSM-RS (protocol rule): {verdict}.", ""]
    return lines


#: (ours, ART's trainer for the same method)
ART_PAIRS = (("pgd-10", "art-madry-pgd-10"),)


def versus_art(data: Dict[str, Runs]) -> List[str]:
    """Our trainer against ART's trainer of the same algorithm, on the seeds both have."""
    rows = []
    for cfg, methods in data.items():
        for ours, art in ART_PAIRS:
            if ours in methods and art in methods:
                seeds = {r["seed"] for r in methods[ours]} & {r["seed"] for r in methods[art]}
                a, b = (trained([r for r in methods[m] if r["seed"] in seeds]) for m in (ours, art))
                rows.append(f"| {cfg} | {ours} | {art} | {len(seeds)} | {time_ratio(a, b):.2f} "
                            f"| {fmt(a, 'autoattack', 100)} / {fmt(b, 'autoattack', 100)} "
                            f"| {fmt(a, 'pgd20', 100)} / {fmt(b, 'pgd20', 100)} |")
    if not rows:
        return []
    return ["## Ours against ART's trainer", "",
            "The same algorithm (PGD-10 adversarial training, step eps/4, one random start), model, data, optimizer, "
            "learning-rate schedule and eps warm-up; ART's trainer configured as in the protocol.", "",
            "| configuration | ours | ART | seeds | time ours / ART | AA % ours / ART | PGD-20 % ours / ART |",
            "|---|---|---|---|---|---|---|"] + rows + [""]


def _ranking(cfg_name: str, d: Runs) -> tuple:
    """(rows, gap, pending) of a configuration: rows ``(method, AA mean, time x PGD-10, seeds with AA)``, each
    method's AA difference to PGD-10 on the seeds both have, the methods whose AutoAttack is still pending."""
    pgd10 = trained(d.get("pgd-10", []))
    rows, gap = [], {}
    for m in ordered(cfg_name, d):
        recs = trained(d[m])
        aa, r = mean(recs, "autoattack"), time_ratio(recs, pgd10)
        if aa is not None and r is not None:
            rows.append((m, aa, r, len(_values(recs, "autoattack"))))
            gap[m] = _diff(recs, pgd10, "autoattack")
    pending = [m for m in ordered(cfg_name, d) if mean(trained(d[m]), "autoattack") is None]
    return rows, gap, pending


#: The protocol's parity: AutoAttack differences up to this many points count as the same robustness.
PARITY = 2.0


def _pending(methods: List[str]) -> List[str]:
    """The which-method line for methods whose AutoAttack is still pending (none without such methods)."""
    return ["- Not ranked yet (AutoAttack pending): " + ", ".join(f"``{m}``" for m in methods) + ".", ""] if methods \
        else []


def _advice(rows: list, gap: dict) -> List[str]:
    """The three choices (PGD-10's robustness for less time; a third of its time or less; the most robust)."""
    lines = []
    parity = sorted((x for x in rows if within(gap[x[0]], PARITY)), key=lambda x: x[2])
    if parity:
        m, aa, r, _ = parity[0]
        lines += [f"- **You want PGD-10's robustness for less time**: ``{m}`` is the cheapest method within 2 points "
                  f"of PGD-10's AutoAttack accuracy ({_pts(gap[m])} on the seeds both have, at {r:.2f}x the time).",
                  ""]
    cheap = [x for x in rows if x[2] <= 0.35]
    if cheap:
        m, aa, r, _ = max(cheap, key=lambda x: x[1])
        others = sorted((x for x in cheap if x[0] != m), key=lambda x: -x[1])
        lines += [f"- **You can afford a third of PGD-10's time or less**: ``{m}`` is the most robust of the "
                  f"methods at 0.35x or less ({100 * aa:.1f}% AA at {r:.2f}x; {_pts(gap[m])} against PGD-10)" + (
                      "; then " + ", ".join(f"``{o}`` ({100 * a:.1f}%)" for o, a, _, _ in others) if others else "")
                  + ".", ""]
    best = max(rows, key=lambda x: x[1])
    close = sorted((x for x in rows if x is not best and within(x[1] - best[1], PARITY)), key=lambda x: x[2])
    lines += [f"- **You want the most robust model, whatever the cost**: ``{best[0]}`` has the highest mean "
              f"({100 * best[1]:.1f}% AA at {best[2]:.2f}x PGD-10's time)" + (
                  "; within the protocol's 2-point parity of it: " + ", ".join(
                      f"``{m}`` ({100 * aa:.1f}%, {r:.2f}x)" for m, aa, r, _ in close) if close else "") + ".", ""]
    worse = [x for x in rows if gap[x[0]] is not None and not within(gap[x[0]], PARITY)]
    if worse:
        lines += ["- **Less robust than PGD-10 by more than 2 points here**: " + ", ".join(
            f"``{m}`` ({_pts(gap[m])}, {r:.2f}x the time)" for m, aa, r, _ in sorted(worse, key=lambda x: -x[1]))
            + ".", ""]
    return lines


def _spread_note(d: Runs) -> str:
    """The range of the per-method seed-to-seed standard deviations of AutoAttack accuracy, to read differences by."""
    sds = [statistics.stdev(v) for v in (_values(trained(recs), "autoattack") for recs in d.values()) if len(v) > 1]
    if not sds:
        return ""
    return (f" The seed-to-seed standard deviation of AutoAttack accuracy is {100 * min(sds):.1f} to "
            f"{100 * max(sds):.1f} points per method here: read the differences below against it.")


#: What the "Which method" page says each configuration is
SCALES = {"mnist-recipe": "full MNIST at eps 0.3, a small CNN, 6 epochs, CPU",
          "cifar10-recipe": "a 4,000-image CIFAR-10 subset at eps 8/255, PreAct-ResNet-18 width 8, 10 epochs, CPU"}


def which_method(data: Dict[str, Runs], probes: List[dict] = (), signatures: List[dict] = ()) -> List[str]:
    """The "Which method should I use?" page (reST), from the numbers only (``probes``: ``co_probes``)."""
    lines = ["Which method should I use?", "==========================", "",
             ".. Generated by benchmarks/report.py from benchmarks/results/*.json; do not edit by hand.", ""]
    if not trained(data.get(CLAIMS_CONFIG, {}).get("pgd-10", [])):
        return lines + ["No results yet: run the benchmarks (``benchmarks/run.py``) first.", ""]
    rows, gap, pending = _ranking(CLAIMS_CONFIG, data[CLAIMS_CONFIG])
    fewest = min((x[3] for x in rows), default=0)
    if fewest < 3:
        lines += [f".. note:: Provisional: some methods have AutoAttack on only {fewest} seed(s) so far (the protocol "
                  "asks for 3); the ranking can change as the remaining runs land.", ""]
    pareto = [x for x in rows if not any(y[1] >= x[1] and y[2] <= x[2] and (y[1], y[2]) != (x[1], x[2])
                                         for y in rows)]
    lines += [f"From the ``{CLAIMS_CONFIG}`` benchmark ({SCALES[CLAIMS_CONFIG]}; see "
              "``docs/benchmarks/results.md`` and its protocol). Robustness is AutoAttack accuracy on 500 test "
              "images (mean over seeds); time is training wall time relative to our PGD-10. Other data, models and "
              "budgets may rank the methods differently: treat this as evidence at one scale, not a law.", ""]
    lines += _advice(rows, gap)
    lines += _overfitting_advice(data, probes, signatures)
    lines += _pending(pending)
    lines += ["Methods that no other method beats on both robustness and time (the Pareto front):", "",
              ".. list-table::", "   :header-rows: 1", "", "   * - method", "     - AutoAttack % (mean)",
              "     - time x PGD-10", "     - seeds with AutoAttack"]
    for m, aa, r, n in sorted(pareto, key=lambda x: x[2]):
        lines += [f"   * - ``{m}``", f"     - {100 * aa:.1f}", f"     - {r:.2f}", f"     - {n}"]
    lines.append("")
    for cfg_name in [c for c in CLAIMS_CONFIGS[1:] if trained(data.get(c, {}).get("pgd-10", []))]:
        c_rows, c_gap, c_pending = _ranking(cfg_name, data[cfg_name])
        title = f"The same questions on ``{cfg_name}``"
        n_aa = sorted({x[3] for x in c_rows})
        seeds = "" if not c_rows else (f", {_seeds(n_aa[0])} per method" if len(n_aa) == 1 else
                                        f", {n_aa[0]} to {n_aa[-1]} seeds per method")
        lines += [title, "-" * len(title), "",
                  f"On {SCALES[cfg_name]}; AutoAttack on 500 test images per model{seeds}."
                  + (" Provisional: the protocol asks for 3 seeds." if c_rows and n_aa[0] < 3 else "")
                  + _spread_note(data[cfg_name]) + " Where this and the MNIST answer differ, neither scale settles it.",
                  ""]
        lines += _advice(c_rows, c_gap) if c_rows else []
        lines += _pending(c_pending)
    return lines + [""]


def write_report(results_dir: str, out_dir: str, guide: Optional[str] = None) -> str:
    data = load(results_dir)
    os.makedirs(out_dir, exist_ok=True)
    lines = ["# Benchmark results", "",
             "Generated by `benchmarks/run.py` / `benchmarks/report.py` from the JSON files in "
             "`benchmarks/results/`; do not edit by hand. The recipes, the 'trained' rule and the rules for the "
             "claims were fixed before the runs in [protocol.md](protocol.md). Small-scale CPU runs: read them as "
             "checks of the papers' claims at this scale, not as reproductions of their full-scale numbers.", ""]
    for cfg_name in [c for c in CONFIGS if c in data]:
        methods = data[cfg_name]
        lines += [f"## {cfg_name}", "", CONFIGS[cfg_name].notes, ""]
        lines += table(cfg_name, methods)
        lines.append("")
        first = (plot_collapse if cfg_name in CO_CONFIGS else plot_time_to_robustness)(cfg_name, methods, out_dir)
        figures = [first, plot_schedules(cfg_name, methods, out_dir)]
        for f in figures + method_figures(cfg_name, methods, out_dir):
            lines.append(f"![{f}]({f})")
        lines.append("")
    lines += ["## The papers' claims at this scale", ""]
    for cfg_name in [c for c in CLAIMS_CONFIGS if c in data]:
        lines += claims(data, cfg_name)
    for cfg_name in [c for c in CO_CONFIGS if c in data]:
        lines += overfitting_check(cfg_name, data[cfg_name])
    signatures = co_signatures(results_dir)
    lines += overfitting_signatures(signatures)
    probes = co_probes(results_dir)
    lines += overfitting_search(probes)
    lines += versus_art(data)
    if data:
        per_config = {c: sorted({machine(r) for recs in data[c].values() for r in recs}) for c in data}
        m = next(iter(next(iter(data.values())).values()))[0]["machine"]
        lines += ["## Machine", "", f"{m['cores']} cores, no GPU; torch {m['torch']}, ART {m['art']}, Python "
                  f"{m['python']}. Per configuration: " + "; ".join(f"{c}: {', '.join(v)}"
                                                                    for c, v in per_config.items()) + ".", ""]
    superseded = [c for c in CONFIGS.values() if c.superseded_by]
    if superseded:
        lines += ["## Superseded configurations", "",
                  "Not reported; their JSON files stay in `benchmarks/results/`."] + [
                  f"- {c.name} (replaced by {c.superseded_by}): {c.superseded_because}" for c in superseded] + [""]
    path = os.path.join(out_dir, "results.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    if guide:
        with open(guide, "w", encoding="utf-8") as f:
            f.write("\n".join(which_method(data, probes, signatures)))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--out", default=os.path.join(HERE, "..", "docs", "benchmarks"))
    parser.add_argument("--guide", default=os.path.join(HERE, "..", "docs", "which_method.rst"),
                        help="the 'Which method should I use?' page ('' to skip)")
    args = parser.parse_args()
    print(write_report(args.results, args.out, args.guide or None))
