"""
Build docs/benchmarks/results.md, its plots and the "Which method should I use?" page from the JSON results of
benchmarks/run.py. Every number is read from a result file; the rules that judge the papers' claims are the
ones fixed beforehand in docs/benchmarks/protocol.md.

    python benchmarks/report.py [--results benchmarks/results] [--out docs/benchmarks] [--guide docs/which_method.rst]
"""
from __future__ import annotations

import argparse
import os
from typing import Dict, List, Optional

import cifar10_co_cnn1
import frontier_pages as frontier
from configs import CONFIGS
from rules import (
    AVERAGING_PAIRS,
    AVERAGING_POINTS,
    CLAIMS,
    CLAIMS_CONFIG,
    CLAIMS_CONFIGS,
    CO_CONFIGS,
    CO_NEEDED,
    CO_PGD,
    CO_SEEDS,
    COLLAPSE_FLOOR,
    FGSM_RATIO,
    RO_RATIO,
    ROUNDING,
    averaging_reading,
    co_verdict,
    collapsed,
    curve,
    did_train,
    fgsm_step,
    trained,
    within,
)
from runs import (
    HERE,
    Runs,
    _diff,
    _pts,
    _seeds,
    _values,
    aa_cell,
    co_probes,
    co_signatures,
    fmt,
    load,
    machine,
    machines_note,
    ordered,
    robustness_target,
    time_ratio,
    time_to_cell,
    timed_pairs,
)
from which_method import which_method


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


def _provisional(n_aa: int) -> str:
    """The protocol judges on 3 seeds: a verdict on fewer is marked provisional."""
    return "" if n_aa >= 3 else f" (provisional: the protocol asks for 3 seeds, AA exists for {n_aa})"


ORDINALS = ("first", "second", "third", "fourth")


def claims(data: Dict[str, Runs], cfg_name: str = CLAIMS_CONFIG) -> List[str]:
    """Each claim's measured numbers on ``cfg_name`` and its verdict by the protocol's rule."""
    d = data.get(cfg_name, {})
    index = CLAIMS_CONFIGS.index(cfg_name) if cfg_name in CLAIMS_CONFIGS else 1
    lines = [f"### {cfg_name}" + ("" if index == 0 else f" ({ORDINALS[index]} set of verdicts, same rules)"), ""]
    if cfg_name in CONFIGS and CONFIGS[cfg_name].lr_schedule == "authors":
        lines += ["Under the ATAS authors' recipe (their LR schedule, warm-up share and crop + flip; "
                  f"`{cfg_name}`'s notes above).", ""]
    planned = set(CONFIGS[cfg_name].methods) if cfg_name in CONFIGS else set(d)
    for a, b, paper, max_ratio, max_drop in CLAIMS:
        if not {a, b} <= planned:
            continue
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
    if "ecas" not in planned:
        return lines + [""]
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


def overfitting_signatures(recs: List[dict]) -> List[str]:
    """The ``co_signatures`` as a table, with the protocol's reading."""
    if not recs:
        return []
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
ART_PAIRS = (("pgd-10", "art-madry-pgd-10"), ("trades", "art-trades"), ("awp", "art-awp"),
             ("awp-w2", "art-awp-w2-pb"))


def averaging(data: Dict[str, Runs]) -> List[str]:
    """Weight averaging against the same method without it, on the seeds both have AutoAttack for."""
    rows = []
    for cfg, plain, ema in AVERAGING_PAIRS:
        methods = data.get(cfg, {})
        if plain not in methods or ema not in methods:
            continue
        found = averaging_reading(methods[plain], methods[ema])
        if found is None:
            continue
        seeds, a, b, diff, reading = found
        rows.append(f"| {cfg} | {plain} | {ema} | {', '.join(map(str, seeds))} | {fmt(a, 'autoattack', 100)} | "
                    f"{fmt(b, 'autoattack', 100)} | {diff:+.1f} | {fmt(a, 'pgd20', 100)} / {fmt(b, 'pgd20', 100)} | "
                    f"{fmt(a, 'clean', 100)} / {fmt(b, 'clean', 100)} | {reading} |")
    if not rows:
        return []
    return ["### Weight averaging", "",
            "EMA of the weights (decay 0.999, timm's warm-up), evaluated as the averaged model; the same method, "
            "recipe and seeds without it. Reading fixed before the runs (protocol amendment of 2026-12-02): "
            f"\"helps\" above +{AVERAGING_POINTS:.0f} point of mean AutoAttack, \"hurts\" below "
            f"-{AVERAGING_POINTS:.0f}, else \"no difference\".", "",
            "| configuration | without | with | seeds | AA % without | AA % with | AA points | PGD-20 % without / "
            "with | clean % without / with | reading |", "|---|---|---|---|---|---|---|---|---|---|"] + rows + [""]


def co_cnn1(runs) -> List[str]:
    """The cifar10-co-cnn1 setting (its own page, ``cifar10_co_cnn1.py``): summary and verdicts."""
    if not runs:
        return []
    return [f"### Catastrophic overfitting where FGSM-RS really collapses ({cifar10_co_cnn1.NAME})", "",
            "A single-layer CNN on the CIFAR subset at eps 16/255 (setting, per-run curves and plot: "
            f"[{cifar10_co_cnn1.NAME}.md]({cifar10_co_cnn1.NAME}.md)).", ""] + cifar10_co_cnn1.summary(runs) + [""]


def robustness_per_second(runs) -> List[str]:
    """The frontier (its own page, ``frontier.py``): least time to PGD-10's robustness and the time choices."""
    if not runs:
        return []
    return ["## Robustness per second", "",
            f"Each method at several epoch budgets of `{frontier.BASE}`, best checkpoint by validation PGD-10, PGD-20 "
            f"on 500 test images (the page, with every point and the plot: [{frontier.NAME}.md]({frontier.NAME}.md)).",
            ""] + frontier.headline(runs)


def versus_art(data: Dict[str, Runs]) -> List[str]:
    """Our trainer against ART's trainer of the same algorithm, on the seeds both have."""
    rows = []
    for cfg, methods in data.items():
        for ours, art in ART_PAIRS:
            if ours in methods and art in methods:
                seeds = {r["seed"] for r in methods[ours]} & {r["seed"] for r in methods[art]}
                a, b = (trained([r for r in methods[m] if r["seed"] in seeds]) for m in (ours, art))
                ratio, timed = time_ratio(a, b), timed_pairs(a, b)
                if ratio is None:
                    time_cell = "n/a (other machines)"
                elif timed and len(timed) < len(seeds):  # some seeds' pairs ran on two machines: say which count
                    time_cell = f"{ratio:.2f} (seed{'s' if len(timed) > 1 else ''} {', '.join(map(str, timed))})"
                else:
                    time_cell = f"{ratio:.2f}"
                rows.append(f"| {cfg} | {ours} | {art} | {len(seeds)} | {time_cell} "
                            f"| {fmt(a, 'autoattack', 100)} / {fmt(b, 'autoattack', 100)} "
                            f"| {fmt(a, 'pgd20', 100)} / {fmt(b, 'pgd20', 100)} |")
    if not rows:
        return []
    return ["## Ours against ART's trainer", "",
            "The same algorithm (PGD-10 adversarial training, TRADES or AWP; attack step eps/4, 10 steps), model, "
            "data, optimizer and eps warm-up; the learning-rate schedule too, except that ART's TRADES and AWP "
            "trainers take one LR per epoch (the configuration's notes); ART's trainer configured as in the "
            "protocol.", "",
            "| configuration | ours | ART | seeds | time ours / ART | AA % ours / ART | PGD-20 % ours / ART |",
            "|---|---|---|---|---|---|---|"] + rows + [""]


def write_report(results_dir: str, out_dir: str, guide: Optional[str] = None) -> str:
    data = load(results_dir)
    withdrawn = [(c, m, CONFIGS[c].withdrawn[m]) for c in data if c in CONFIGS for m in data[c]
                 if m in CONFIGS[c].withdrawn]
    for c, m, _ in withdrawn:  # rows whose recipe did not train: neither in the tables nor in the advice
        del data[c][m]
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
    cnn1 = cifar10_co_cnn1.load(os.path.join(results_dir, cifar10_co_cnn1.NAME))
    lines += co_cnn1(cnn1)
    lines += averaging(data)
    per_second = frontier.load(os.path.join(results_dir, frontier.NAME))
    lines += robustness_per_second(per_second)
    lines += versus_art(data)
    if data:
        per_config = {c: sorted({machine(r) for recs in data[c].values() for r in recs}) for c in data}
        m = next(iter(next(iter(data.values())).values()))[0]["machine"]
        lines += ["## Machine", "", f"{m['cores']} cores, no GPU; torch {m['torch']}, ART {m['art']}, Python "
                  f"{m['python']}. Per configuration: " + "; ".join(f"{c}: {', '.join(v)}"
                                                                    for c, v in per_config.items()) + ".", ""]
    if withdrawn:
        lines += ["## Recipe fixes", "", "A row's first recipe that did not train or under-fitted, what was "
                  "changed, and the fixed row that replaces it in the tables above; the first runs are in no table "
                  "and no advice (their JSON files stay in `benchmarks/results/`)."]
        lines += [f"- {c} {m}: {why}" for c, m, why in withdrawn] + [""]
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
            f.write("\n".join(which_method(data, probes, signatures, cnn1, per_second)))
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--out", default=os.path.join(HERE, "..", "docs", "benchmarks"))
    parser.add_argument("--guide", default=os.path.join(HERE, "..", "docs", "which_method.rst"),
                        help="the 'Which method should I use?' page ('' to skip)")
    args = parser.parse_args()
    print(write_report(args.results, args.out, args.guide or None))
