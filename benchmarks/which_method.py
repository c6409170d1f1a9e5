"""
The docs' "Which method should I use?" page (docs/which_method.rst), generated from the result records only.
"""
from __future__ import annotations

import statistics
from typing import Dict, List

import frontier_pages as frontier
from configs import CONFIGS, method_spec
from rules import (
    AVERAGING_PAIRS,
    CLAIMS_CONFIG,
    CLAIMS_CONFIGS,
    CO_CONFIGS,
    PARITY,
    averaging_reading,
    co_verdict,
    collapsed,
    curve,
    fgsm_step,
    trained,
    within,
)
from runs import Runs, _diff, _pts, _seeds, _values, fmt, mean, ordered, time_ratio


def _cnn1_advice(cnn1) -> str:
    """The cifar10-co-cnn1 sentence: the rule's verdicts and the final AutoAttack per row, from its runs."""
    from cifar10_co_cnn1 import NAME, ROWS, verdict

    def aa(row):
        vals = [r["evaluation"]["autoattack"] for r in cnn1.get(row, []) if "autoattack" in r["evaluation"]]
        return f"{100 * sum(vals) / len(vals):.1f}%" if vals else "not run"

    verdicts = verdict(cnn1)
    return (f"``{NAME}`` (a single-layer CNN at 16/255, FGSM-RS with a 32/255 step): ATAS' claim by the rule: "
            f"{verdicts['atas']} (defaults), {verdicts['atas-authors']} (the authors' steps); final AutoAttack, "
            "mean of the seeds: " + ", ".join(f"{row} {aa(row)}" for row in ROWS if row in cnn1)
            + "; the rule's firings on ATAS and a post-hoc reading are on the results page")


def _overfitting_advice(data: Dict[str, Runs], probes: List[dict], signatures: List[dict] = (),
                        cnn1=None) -> List[str]:
    """The which-method line on catastrophic overfitting: each overfitting setting's verdict, and the probes."""
    found = [_cnn1_advice(cnn1)] if cnn1 else []
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


def _untimed(cfg_name: str, d: Runs, ranked: List[str]) -> List[str]:
    """The rows with AutoAttack that carry no time ratio to PGD-10 (timed on other machines): their AutoAttack
    difference to PGD-10 on the seeds both have and their backward passes, which do compare across machines."""
    pgd10 = trained(d.get("pgd-10", []))
    rows = []
    for m in ordered(cfg_name, d):
        recs = trained(d[m])
        aa = mean(recs, "autoattack")
        if m in ranked or m == "pgd-10" or aa is None:
            continue
        gap = _diff(recs, pgd10, "autoattack")
        rows.append((aa, f"``{m}`` ({100 * aa:.1f}% AA"
                     + (f", {_pts(gap)}" if gap is not None else "")
                     + f", {mean(recs, 'backward_passes'):,.0f} backward passes, "
                     f"{_seeds(len(_values(recs, 'autoattack')))})"))
    if not rows:
        return []
    return [f"- **Not ranked by time** (these rows and PGD-10 were timed on different machines, so their seconds do "
            f"not compare; backward passes per run do: PGD-10 {mean(pgd10, 'backward_passes'):,.0f}), most robust "
            "first: " + ", ".join(text for _, text in sorted(rows, key=lambda x: -x[0])) + ".", ""]


def _averaging_advice(cfg_name: str, d: Runs) -> List[str]:
    """The weight-averaging line: each method's reading by the amendment's rule (none without averaging rows)."""
    cells = []
    for cfg, plain, ema in AVERAGING_PAIRS:
        found = averaging_reading(d[plain], d[ema]) if cfg == cfg_name and plain in d and ema in d else None
        if found is not None:
            seeds, _, _, diff, text = found
            cells.append(f"``{plain}``: {text} ({diff:+.1f} points of AA with ``{ema}``, {_seeds(len(seeds))})")
    if not cells:
        return []
    return ["- **Weight averaging** (EMA of the weights, decay 0.999) at this scale: " + "; ".join(cells)
            + " (the protocol's reading; the rows are on the results page).", ""]


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
          "cifar10-recipe": "a 4,000-image CIFAR-10 subset at eps 8/255, PreAct-ResNet-18 width 8, 10 epochs, CPU",
          "cifar10-atas-recipe": "the same CIFAR-10 subset and model under the ATAS authors' recipe (LR 0.1 decayed "
                                 "at 80% and 93% of 10 epochs, crop + flip), CPU"}


def _time_advice(per_second) -> List[str]:
    """The "I have T seconds" line, from the frontier's points (``frontier.budget_choice``)."""
    choices = frontier.budget_choice(per_second) if per_second else []
    if not choices:
        return []
    seeds, _ = frontier._complete(per_second, frontier.BUDGETS)
    cells = [f"{f:g}x: ``{m}`` at {e} epochs ({100 * v:.1f}% PGD-20)" if m else f"{f:g}x: nothing fits"
             for f, m, e, v in choices]
    return [f"- **I have T seconds** (T as a fraction of PGD-10's full-run training time on ``{frontier.BASE}``; "
            "each method trained at several epoch budgets, its best checkpoint by validation; PGD-20 on 500 test "
            f"images, mean of seeds {', '.join(map(str, seeds))}): " + "; ".join(cells)
            + ". The points and the least time each method needs to reach PGD-10's full-run robustness are in "
            "``docs/benchmarks/frontier.md``.", ""]


def which_method(data: Dict[str, Runs], probes: List[dict] = (), signatures: List[dict] = (),
                 cnn1=None, per_second=None) -> List[str]:
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
    lines += _untimed(CLAIMS_CONFIG, data[CLAIMS_CONFIG], [x[0] for x in rows])
    lines += _overfitting_advice(data, probes, signatures, cnn1)
    lines += _time_advice(per_second)
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
        lines += _untimed(cfg_name, data[cfg_name], [x[0] for x in c_rows])
        lines += _averaging_advice(cfg_name, data[cfg_name])
        lines += _pending(c_pending)
    return lines + [""]
