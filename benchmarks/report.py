"""
Build docs/benchmarks/results.md and its plots from the JSON results of benchmarks/run.py. Every number in
the report is read from a result file; the paper claims are checked by the rules written next to them.

    python benchmarks/report.py [--results benchmarks/results] [--out docs/benchmarks]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
from collections import defaultdict
from typing import Dict, List, Optional

from configs import CONFIGS

HERE = os.path.dirname(os.path.abspath(__file__))


def load(results_dir: str) -> Dict[str, Dict[str, List[dict]]]:
    """{config: {method: [records over seeds]}} for each configuration's current number of epochs."""
    out: Dict[str, Dict[str, List[dict]]] = defaultdict(lambda: defaultdict(list))
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
    vals = [v * scale for v in _values(recs, key)]
    if not vals:
        return "-"
    m = statistics.fmean(vals)
    if spread and len(vals) > 1:
        return f"{m:.{digits}f} ± {(max(vals) - min(vals)) / 2:.{digits}f}"
    return f"{m:.{digits}f}"


#: A run "did not train" when its clean accuracy is at or below this (near chance for 10 classes).
CHANCE = 0.15


def did_train(rec: dict) -> bool:
    return rec["evaluation"]["clean"] > CHANCE


def trained(recs: List[dict]) -> List[dict]:
    """The runs that trained; all of them when none did (so a row still shows what happened)."""
    return [r for r in recs if did_train(r)] or recs


def time_ratio(ra: List[dict], rb: List[dict]) -> float:
    """Mean over the seeds both have of the per-seed time ratio (the runs of one seed were made in one
    session, so the machine's drift between sessions cancels); the ratio of means when none is shared."""
    tb = {r["seed"]: r["train_seconds"] for r in rb}
    per_seed = [r["train_seconds"] / tb[r["seed"]] for r in ra if r["seed"] in tb]
    if per_seed:
        return statistics.fmean(per_seed)
    return mean(ra, "train_seconds") / mean(rb, "train_seconds")


#: Methods whose defaults changed in 0.2 (the fidelity fixes): their results from before (no ``art_accel``
#: version recorded) describe the old code and are marked stale until rerun.
STALE = {
    "mplus-pgd": "M+PGD's step is now eps/k (floor eps/4), it was eps/4 at every k",
    "amata": "Amata's PGD now starts at the clean input (Algorithm 1), it started uniformly in the ball",
    "gaat": "GAAT's default total step is now 1.25 eps (the paper's), it was 2.5 eps",
    "gaat-diag": "GAAT's default total step is now 1.25 eps (the paper's), it was 2.5 eps",
    "dat-gaat": "GAAT's default total step is now 1.25 eps (the paper's), it was 2.5 eps",
    "awp": "AWP's default gamma on PGD-AT is now 0.01 (the authors'), it was 5e-3",
}
#: Configurations whose ATAS rows ran with our eps-scaled steps, twice the paper's at 16/255.
SCALED_ATAS = ("cifar10-subset-16", "cifar10-subset-16-long")


def is_stale(rec: dict) -> bool:
    """A result of a method whose defaults changed, produced before the change."""
    return rec["method"] in STALE and "art_accel" not in rec


def stale_note(cfg_name: str, methods: Dict[str, List[dict]]) -> List[str]:
    """The footnote naming the stale rows and why."""
    stale = [m for m in methods if any(is_stale(r) for r in methods[m])]
    notes = [f"{m}: {STALE[m]}" for m in stale]
    if cfg_name in SCALED_ATAS and "atas" in methods and "art_accel" not in methods["atas"][0]:
        stale.append("atas")
        notes.append("atas: ran with the eps-scaled steps (max 32/255, clamp [8, 28]/255), twice the paper's "
                     "16/255 and [4, 14]/255 at this eps; the catastrophic-overfitting comparison must use "
                     "step_bounds='authors'")
    if not stale:
        return []
    return ["", "STALE (marked †, to be rerun on the current code): " + "; ".join(notes) + "."]


def table(cfg_name: str, methods: Dict[str, List[dict]]) -> List[str]:
    cfg = CONFIGS[cfg_name]
    order = [m for m in cfg.methods if m in methods] + sorted(set(methods) - set(cfg.methods))
    n_aa = next(iter(methods.values()))[0]["n_autoattack"]
    n_eval = next(iter(methods.values()))[0]["n_eval"]
    lines = [
        f"| method | seeds | train s | backward passes | ms / BP | clean % | PGD-20 % | CW-20 % | AA % (n={n_aa}) "
        f"| s to val PGD >= {cfg.target:.0%} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in order:
        recs = trained(methods[m])
        n_failed = len(methods[m]) - len(recs)
        seeds = f"{len(methods[m])} ({n_failed} did not train)" if n_failed else str(len(recs))
        ttt = [r["time_to_target"] for r in recs if r.get("history")]
        reached = [t for t in ttt if t is not None]
        ttt_s = "n/a (ART)" if not ttt else (f"{statistics.fmean(reached):.0f} ({len(reached)}/{len(ttt)})"
                                            if reached else f"not reached (0/{len(ttt)})")
        name = f"**{m}**" if m in cfg.headline else m
        stale = any(is_stale(r) for r in methods[m]) or (
            m == "atas" and cfg_name in SCALED_ATAS and "art_accel" not in methods[m][0])
        name += " †" if stale else ""
        lines.append(
            f"| {name} | {seeds} | {fmt(recs, 'train_seconds', digits=0)} "
            f"| {fmt(recs, 'backward_passes', digits=0)} | {fmt(recs, 'time_per_backward_pass', 1000, 1, False)} "
            f"| {fmt(recs, 'clean', 100)} "
            f"| {fmt(recs, 'pgd20', 100)} | {fmt(recs, 'cw20', 100)} | {fmt(recs, 'autoattack', 100)} | {ttt_s} |"
        )
    lines += stale_note(cfg_name, methods)
    failed = [f"{m} seed {r['seed']} (clean {100 * r['evaluation']['clean']:.1f}%)" for m in order
              for r in methods[m] if not did_train(r)]
    if failed:
        lines.append("")
        lines.append(f"Runs that did not train (clean accuracy at or below {CHANCE:.0%}, near chance), left out of "
                     "the means and the plots: " + "; ".join(failed) + ".")
    lines.append("")
    if cfg.headline:
        short = [m for m in cfg.headline if len(trained(methods.get(m, []))) < 2]
        lines.append("Bold: the headline rows, run until at least 2 seeds trained" + (
            f" (still short of 2 trained seeds: {', '.join(short)})." if short else "."))
    aa = f"AutoAttack (standard) on the first {n_aa}" if n_aa else "no AutoAttack"
    lines.append(f"Clean, PGD-20 and CW-20 on the first {n_eval} test images; {aa}; the validation curve uses "
                 f"the last {cfg.n_val} test images (PGD-10, step eps/4). "
                 "Mean ± half the range over seeds. ART trainers' passes are counted with module hooks as "
                 "sample passes divided by the batch size.")
    return lines


def plot_config(cfg_name: str, methods: Dict[str, List[dict]], out_dir: str) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (m, recs) in enumerate(sorted(methods.items())):
        color = plt.cm.tab20(i % 20)
        recs = trained(recs)
        r = recs[0]
        if r.get("history"):
            rows = r["history"]["records"]
            ax.plot([x["elapsed_seconds"] for x in rows], [100 * x["val_robust_accuracy"] for x in rows], "-",
                    color=color, lw=1, alpha=0.8)
        ax.plot([mean(recs, "train_seconds")], [100 * mean(recs, "pgd20")], "o" if r.get("history") else "s",
                color=color, label=m)
    ax.set_xlabel("training wall time (s)")
    ax.set_ylabel("PGD accuracy (%)")
    ax.set_title(f"{cfg_name}: robust accuracy against wall time\nlines: validation PGD-10 per epoch (first "
                 "trained seed); markers: final PGD-20 (squares: ART)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    name = f"{cfg_name}_robust_vs_time.png"
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    files.append(name)

    keys = [("k", "k (steps / replays after the first)"), ("eps", "eps"), ("step", "mean step size")]
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 6.5), sharex=True)
    for i, (m, recs) in enumerate(sorted(methods.items())):
        hist = recs[0].get("history")
        if not hist:
            continue
        rows = hist["records"]
        for ax, (key, _) in zip(axes, keys):
            vals = [x.get("step_mean", x.get("eps_step")) if key == "step" else x.get(key) for x in rows]
            ax.plot([x["epoch"] for x in rows], [float("nan") if v is None else v for v in vals], "-o", ms=2,
                    color=plt.cm.tab20(i % 20), label=m)
    for ax, (_, label) in zip(axes, keys):
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=3)
    axes[-1].set_xlabel("epoch (0-based)")
    fig.suptitle(f"{cfg_name}: each method's schedule per epoch (seed 0)", fontsize=10)
    fig.tight_layout()
    name = f"{cfg_name}_schedules.png"
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    files.append(name)
    return files


def method_figures(cfg_name: str, methods: Dict[str, List[dict]], out_dir: str) -> List[str]:
    """The papers' own figures from seed 0's history: ATAS' Figure 10, M+'s Figure 6, ECAS' Figure 2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def _pct(x):
    return f"{100 * x:.1f}%"


def claims(data: Dict[str, Dict[str, List[dict]]]) -> List[str]:
    """Each paper's headline claim next to the measured numbers, with the rule used for the verdict."""
    lines = []

    def pair(cfg, a, b):
        """The two methods' runs that trained (clean accuracy above 15%); runs that did not are listed."""
        d = data.get(cfg, {})
        if a not in d or b not in d:
            return None, None
        ok = [[r for r in d[m] if did_train(r)] for m in (a, b)]
        for m in (a, b):
            dropped = [r["seed"] for r in d[m] if not did_train(r)]
            note = f"- ({m}: seed(s) {dropped} did not train and are left out of the comparisons with it.)"
            if dropped and note not in lines[-6:]:
                lines.append(note)
        return tuple(ok) if all(ok) else (None, None)

    def diff(ra, rb, key):
        va, vb = mean(ra, key), mean(rb, key)
        return None if va is None or vb is None else va - vb

    def pts(x):
        return "n/a" if x is None else f"{100 * x:+.1f} points"

    for cfg in [c for c in ("mnist", "mnist-10k", "cifar10-subset") if c in data]:
        lines.append(f"### {cfg}")
        lines.append("")
        ra, rb = pair(cfg, "mplus-deat", "pgd-7")
        if ra:
            r, dcw, daa = time_ratio(ra, rb), diff(ra, rb, "cw20"), diff(ra, rb, "autoattack")
            ok = r <= 0.75 and dcw is not None and dcw >= -0.02 and (daa is None or daa >= -0.02)
            ks = [x["k"] for x in ra[0]["history"]["records"]]
            lines.append(f"- **M+DEAT vs PGD-AT-7** (paper: about 35% faster, comparable CW-20/AA). Measured: time "
                         f"x{r:.2f}, CW-20 {pts(dcw)}, AA {pts(daa)}; k per epoch (seed 0) {ks}. Rule: time <= 0.75x "
                         f"and CW-20/AA not more than 2 points lower -> "
                         f"**{'reproduced' if ok else 'not reproduced'}**.")
        ra, rb = pair(cfg, "amata", "pgd-10")
        if ra:
            r, dp, dcw = time_ratio(ra, rb), diff(ra, rb, "pgd20"), diff(ra, rb, "cw20")
            ok = r <= 0.70 and dp >= -0.02 and dcw >= -0.02
            lines.append(f"- **Amata vs PGD-10** (paper: similar PGD-20/CW at 0.55-0.62x the time). Measured: time "
                         f"x{r:.2f}, PGD-20 {pts(dp)}, CW-20 {pts(dcw)}. Rule: time <= 0.70x and neither more than 2 "
                         f"points lower -> **{'reproduced' if ok else 'not reproduced'}**.")
        ra, rb = pair(cfg, "gaat", "pgd-10")
        if ra:
            r, dp = time_ratio(ra, rb), diff(ra, rb, "pgd20")
            ok = r <= 0.70 and -0.03 <= dp
            lines.append(f"- **GAAT vs PGD-10** (paper: 30-60% less time, about 1-2 points lower PGD). Measured: "
                         f"time x{r:.2f} ({_pct(1 - r)} less), PGD-20 {pts(dp)}. Rule: at least 30% less time and "
                         f"at most 3 points lower -> **{'reproduced' if ok else 'not reproduced'}**. Note: with the "
                         "Gauss-Newton Hessian GAAT is one FGSM step (see the GAAT page): it costs FGSM-RS's 2 "
                         "passes per batch whatever max_iter, and carries FGSM-RS's catastrophic-overfitting risk.")
        ra, rb = pair(cfg, "ecas", "pgd-10")
        if ra:
            per_epoch = time_ratio(ra, rb) - 1
            dc, daa = diff(ra, rb, "clean"), diff(ra, rb, "autoattack")
            ok = dc > 0 and daa is not None and daa > 0 and per_epoch < 0.01
            lines.append(f"- **ECAS-PGD vs PGD-10 with fixed eps** (paper: better clean and AA at < 1% extra time). "
                         f"Measured: clean {pts(dc)}, AA {pts(daa)}, time {per_epoch:+.1%}. Rule: both better and "
                         f"< 1% extra time -> **{'reproduced' if ok else 'not reproduced'}** (our PGD base pays one "
                         "clean forward per batch for the entropy).")
        ra, rb = pair(cfg, "atas", "pgd-10")
        if ra:
            r, daa = time_ratio(ra, rb), diff(ra, rb, "autoattack")
            ok = r <= 0.35 and daa is not None and daa >= -0.015
            lines.append(f"- **ATAS vs PGD-10** (paper: AA within about one point at about a quarter of the time). "
                         f"Measured: time x{r:.2f}, AA {pts(daa)}. Rule: time <= 0.35x and AA at most 1.5 points "
                         f"lower -> **{'reproduced' if ok else 'not reproduced'}**.")
        lines.append("")
    for cfg in [c for c in ("cifar10-subset-16", "cifar10-subset-16-long") if c in data]:
        lines += overfitting_check(cfg, data[cfg])
    return lines


def _collapsed(curve: List[float]) -> bool:
    """Catastrophic overfitting: at some epoch the validation PGD accuracy is below 5% and below half the
    best value of the epochs before it."""
    return any(v < 0.05 and v < 0.5 * max(curve[:i]) for i, v in enumerate(curve) if i > 0)


def overfitting_check(cfg: str, co: Dict[str, List[dict]]) -> List[str]:
    """ATAS' claim: no catastrophic overfitting where FGSM-RS collapses; the verdict counts seeds."""
    if "fgsm-rs" not in co or "atas" not in co:
        return []
    c = CONFIGS[cfg]
    lines = [f"### Catastrophic overfitting at eps 16/255 ({cfg}, {c.epochs} epochs)", ""]
    counts = {}
    for m in ("fgsm-rs", "atta", "atas"):
        if m not in co:
            continue
        recs = co[m]
        curves = [[x["val_robust_accuracy"] for x in r["history"]["records"]] for r in recs]
        counts[m] = sum(_collapsed(cv) for cv in curves), len(curves)
        lines.append(f"- {m}: final PGD-20 {fmt(recs, 'pgd20', 100)}%, validation PGD per epoch (seed 0) "
                     f"{', '.join(f'{100 * v:.0f}' for v in curves[0])}; catastrophic overfitting: "
                     f"{counts[m][0]}/{counts[m][1]} seeds.")
    fgsm_co, atas_co = counts["fgsm-rs"][0], counts["atas"][0]
    if fgsm_co == 0:
        verdict = "**not testable here**: FGSM-RS did not collapse, so there is nothing for ATAS to avoid"
    elif atas_co == 0:
        verdict = "**reproduced**: FGSM-RS collapsed and ATAS did not"
    else:
        verdict = "**not reproduced**: ATAS collapsed too"
    lines += ["", "Paper: ATAS shows no catastrophic overfitting where FGSM-RS collapses (eps 12-16/255 on "
              "CIFAR-10). Collapse: at some epoch the validation PGD accuracy is below 5% and below half the best "
              f"earlier value. Verdict: {verdict}.", ""]
    return lines


#: (ours, ART's trainer for the same method)
ART_PAIRS = (("pgd-10", "art-madry-pgd-10"), ("fgsm-rs", "art-fbf"), ("trades", "art-trades"), ("awp", "art-awp"))


def versus_art(data: Dict[str, Dict[str, List[dict]]]) -> List[str]:
    """Our trainer against ART's trainer of the same method, configuration by configuration."""
    lines = ["## Ours against ART's trainers", "",
             "Same model, data, optimizer, epochs and attack settings; ART's passes counted with module hooks. "
             "ART's FBF trainer imposes its own cyclic learning rate (peak 0.21) and gradient clipping, and ART's "
             "TRADES/AWP trainers their own loss; only the Madry PGD pair runs the identical algorithm. Each pair "
             "uses the seeds both have; runs that did not train (clean <= 15%) are left out. The cifar10-subset "
             "pairs ran in two sessions (the machine's speed drifts between sessions by up to a quarter).", "",
             "| configuration | ours | ART | time ours / ART | ms per BP ours / ART | PGD-20 % ours / ART |",
             "|---|---|---|---|---|---|"]
    for cfg, methods in data.items():
        for ours, art in ART_PAIRS:
            if ours in methods and art in methods:
                seeds = {r["seed"] for r in methods[ours]} & {r["seed"] for r in methods[art]}
                a, b = (trained([r for r in methods[m] if r["seed"] in seeds]) for m in (ours, art))
                lines.append(
                    f"| {cfg} | {ours} | {art} | {time_ratio(a, b):.2f} "
                    f"| {fmt(a, 'time_per_backward_pass', 1000, 1, False)} / "
                    f"{fmt(b, 'time_per_backward_pass', 1000, 1, False)} "
                    f"| {fmt(a, 'pgd20', 100)} / {fmt(b, 'pgd20', 100)} |")
    return lines + [""]


def write_report(results_dir: str, out_dir: str) -> str:
    data = load(results_dir)
    os.makedirs(out_dir, exist_ok=True)
    machine = None
    lines = ["# Benchmark results", "",
             "Generated by `benchmarks/run.py` / `benchmarks/report.py` from the JSON files in "
             "`benchmarks/results/`; do not edit by hand. Small-scale CPU runs: read them as checks of the "
             "papers' claims at this scale, not as reproductions of their full-scale numbers.", ""]
    for cfg_name in [c for c in CONFIGS if c in data]:
        methods = data[cfg_name]
        machine = machine or next(iter(methods.values()))[0]["machine"]
        cfg = CONFIGS[cfg_name]
        lines += [f"## {cfg_name}", "", cfg.notes, ""]
        lines += table(cfg_name, methods)
        lines.append("")
        for f in plot_config(cfg_name, methods, out_dir) + method_figures(cfg_name, methods, out_dir):
            lines.append(f"![{f}]({f})")
        lines.append("")
    if machine:
        per_config = {c: sorted({r["machine"]["cpu"] for recs in data[c].values() for r in recs}) for c in data
                      if not CONFIGS[c].superseded_by}
        where = "; ".join(f"{c}: {', '.join(cpus)}" for c, cpus in per_config.items())
        lines += ["## Machine", "", f"{machine['cores']} cores, no GPU; torch {machine['torch']} "
                  f"({machine['torch_threads']} threads), ART {machine['art']}, Python {machine['python']}. "
                  f"CPU per configuration: {where}.", ""]
    superseded = [c for c in CONFIGS.values() if c.superseded_by]
    if superseded:
        lines += ["## Superseded configurations", "",
                  "; ".join(f"{c.name} (replaced by {c.superseded_by})" for c in superseded) + ": their recipe "
                  "(constant LR 0.05, eps 0.3 from the first step) left PGD-AT and ART's Madry trainer at the "
                  "chance plateau on some seeds, so their results no longer support a comparison and are not "
                  "reported; the JSON files stay in benchmarks/results/.", ""]
    lines += ["## The papers' claims at this scale", "",
              "Each line compares means over the seeds present (time: the mean per-seed ratio over shared "
              "seeds). Differences are in percentage points of "
              "accuracy. At this scale (a few epochs, constant learning rate, 1-3 seeds, AutoAttack on 50-100 "
              "images) single-run differences of several points are within run-to-run noise, and the PGD "
              "baselines are not trained to convergence: read a 'reproduced' as 'not contradicted here'. "
              "Claims on rows marked † describe the code before the 0.2 fidelity fixes.", ""]
    lines += claims(data)
    lines += versus_art(data)
    path = os.path.join(out_dir, "results.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--out", default=os.path.join(HERE, "..", "docs", "benchmarks"))
    args = parser.parse_args()
    print(write_report(args.results, args.out))
