"""
The GPU check: one command for the day a CUDA device is available (under 8 minutes on one current GPU, no
download).

1. The test suite's device-agnostic tests on CUDA (``pytest --device cuda -m "not slow"``: the shared test
   classifiers on the GPU; the bit-level digests stay on the CPU).
2. One epoch on the CPU and on CUDA from the same weights, for PGD-10 and ATAS (random starts drawn from each
   value, so both devices start alike; TF32 off): the largest weight difference and the loss difference.
3. A timing table on the CIFAR subset (synthetic CIFAR-shaped data when ``--data-dir`` has none; timing does not
   depend on the pixels): PreAct-ResNet-18 full width, batch 128 and 512, PGD-10, ATAS and FGSM-RS through
   art-accel's loop against a bare PyTorch loop doing the same passes (ATAS against the FGSM loop: same passes),
   and at batch 512 ``precision="bf16"`` and ``memory_format="channels_last"``; interleaved rounds, medians;
   batches with ``torch.cuda.set_sync_debug_mode("error")`` during one art-accel epoch of each method (a host
   sync raises).

Writes ``docs/benchmarks/gpu_check.json`` and ``gpu_check.md``. Without CUDA it says so in one line and exits 0;
``--cpu-smoke`` runs every step on the CPU at toy sizes (the test suite does, so the script cannot rot).

    python benchmarks/gpu_check.py --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from art_accel.data import load_npz  # noqa: E402
from art_accel.registry import get_method  # noqa: E402

EPS = 8 / 255
METHODS = {"pgd-10": ("pgd", {"max_iter": 10}), "atas": ("atas", {"warmup_epochs": 0}), "fgsm-rs": ("fgsm", {})}


def content_noise(x: torch.Tensor, **kwargs) -> torch.Tensor:
    """A uniform [0, 1) stand-in for torch.rand_like computed from each value: the same on every device."""
    return torch.frac(torch.sin(x * 12.9898 + 0.5) * 43758.5453)


def classifier(model: nn.Module, device: str, input_shape=(3, 32, 32)):
    from art.estimators.classification import PyTorchClassifier

    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    return PyTorchClassifier(model, loss=nn.CrossEntropyLoss(), optimizer=opt, input_shape=input_shape,
                             nb_classes=10, clip_values=(0.0, 1.0), device_type="gpu" if device == "cuda" else "cpu")


def cifar(data_dir: str, n: int, seed: int = 0):
    """``n`` CIFAR-subset training images, or synthetic ones of the same shape (said in the result)."""
    path = os.path.join(data_dir or "", "cifar10_exact_subset.npz")
    if data_dir and os.path.isfile(path):
        data = load_npz(path, "cifar10-subset")
        return data.x_train[:n], data.y_train[:n], "cifar10 exact subset"
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, n), "synthetic (no data dir)"


def run_tests(device: str, timeout: int) -> Dict[str, Any]:
    """The suite's quick tests with the shared classifiers on ``device``; the summary line and the exit code."""
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "not slow", "--device", device, "-x",
           os.path.join(ROOT, "tests")]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        lines = [ln for ln in done.stdout.splitlines() if ln.strip()]
        return {"returncode": done.returncode, "summary": lines[-1] if lines else "", "seconds":
                time.perf_counter() - start, "failures": [ln for ln in lines if ln.startswith("FAILED")][:10]}
    except subprocess.TimeoutExpired:
        return {"returncode": None, "summary": f"timed out after {timeout} s", "seconds": timeout, "failures": []}


def small_cnn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 16 * 16, 10))


def agreement(device: str, data_dir: str, n: int) -> Dict[str, Any]:
    """One epoch on the CPU and on ``device`` from the same weights, PGD-10 and ATAS."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    x, y, source = cifar(data_dir, n)
    out: Dict[str, Any] = {"data": source, "n": n}
    original = torch.rand_like
    torch.rand_like = content_noise
    try:
        for name in ("pgd-10", "atas"):
            impl, kwargs = METHODS[name]
            weights, losses = {}, {}
            for dev in ("cpu", device):
                clf = classifier(small_cnn(0), dev)
                h = get_method(impl)(clf, eps=EPS, verbose=False, **kwargs).fit(x, y, nb_epochs=1, batch_size=64,
                                                                                 shuffle=False)
                weights[dev] = {k: v.detach().cpu() for k, v in clf.model.state_dict().items()}
                losses[dev] = h.records[-1]["loss"]
            diff = max(float((weights["cpu"][k] - weights[device][k]).abs().max()) for k in weights["cpu"])
            scale = max(float(w.abs().max()) for w in weights["cpu"].values())
            out[name] = {"max_abs_weight_diff": diff, "max_abs_weight": scale,
                         "loss_cpu": losses["cpu"], f"loss_{device}": losses[device],
                         "bit_exact": diff == 0.0}
    finally:
        torch.rand_like = original
    return out


def bare_step(model, opt, x, y, steps: int, step: float):
    """A plain PyTorch batch: ``steps`` signed-gradient steps from a uniform start (eval mode), then one update."""
    loss_fn = nn.CrossEntropyLoss()
    model.eval()
    delta = (torch.rand_like(x) * 2 - 1) * EPS
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = loss_fn(model((x + delta).clamp(0, 1)), y)
        (grad,) = torch.autograd.grad(loss, [delta])
        delta = (delta.detach() + step * grad.sign()).clamp(-EPS, EPS)
    model.train()
    opt.zero_grad(set_to_none=True)
    loss_fn(model((x + delta).clamp(0, 1)), y).backward()
    opt.step()


def timed(device: str, fn: Callable[[], None]) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def timing(device: str, data_dir: str, width: int, batches: int, batch_sizes: List[int], rounds: int,
           sync_check: bool) -> Dict[str, Any]:
    """Seconds per batch (median over rounds) of our loop and the bare loop; bf16 and channels_last at the
    largest batch; interleaved: every round runs every row once, in the same order."""
    from art_accel.models import PreActResNet18

    largest = max(batch_sizes)
    rows = []
    for bs in batch_sizes:
        for method in METHODS:
            rows.append({"method": method, "batch": bs, "variant": "fp32"})
            if bs == largest:
                rows += [{"method": method, "batch": bs, "variant": "bf16"},
                         {"method": method, "batch": bs, "variant": "channels_last"}]
    x_np, y_np, source = cifar(data_dir, largest * batches)
    for row in rows:
        row.update(ours=[], bare=[])
    sync = {}
    for rnd in range(rounds + 1):  # round 0 warms up (cuDNN autotuning, allocator) and is not kept
        for row in rows:
            bs, (impl, kwargs) = row["batch"], METHODS[row["method"]]
            n = bs * batches
            opts = {"precision": "bf16"} if row["variant"] == "bf16" else {}
            if row["variant"] == "channels_last":
                opts["memory_format"] = "channels_last"
            clf = classifier(PreActResNet18(width, 10), device)
            trainer = get_method(impl)(clf, eps=EPS, verbose=False, **kwargs, **opts)
            first = rnd == 0 and sync_check and device == "cuda" and row["variant"] == "fp32" and bs == largest
            if first:
                torch.cuda.set_sync_debug_mode("error")
            try:
                seconds = timed(device, lambda: trainer.fit(x_np[:n], y_np[:n], nb_epochs=1, batch_size=bs))
                if first:
                    sync[row["method"]] = "no host sync in one epoch's batches (set_sync_debug_mode('error'))"
            except RuntimeError as err:
                if not first:
                    raise
                sync[row["method"]] = f"host sync: {str(err).splitlines()[0][:200]}"
                seconds = float("nan")
            finally:
                if first:
                    torch.cuda.set_sync_debug_mode(0)
            model = PreActResNet18(width, 10).to(clf.device)
            if row["variant"] == "channels_last":
                model = model.to(memory_format=torch.channels_last)
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
            x, y = torch.from_numpy(x_np[:n]).to(clf.device), torch.from_numpy(y_np[:n]).to(clf.device)
            steps, step = (10, EPS / 4) if row["method"] == "pgd-10" else (1, 1.25 * EPS)

            def bare():
                for i in range(batches):
                    xb, yb = x[i * bs:(i + 1) * bs], y[i * bs:(i + 1) * bs]
                    if row["variant"] == "channels_last":
                        xb = xb.contiguous(memory_format=torch.channels_last)
                    if row["variant"] == "bf16":
                        with torch.autocast(clf.device.type, dtype=torch.bfloat16):
                            bare_step(model, opt, xb, yb, steps, step)
                    else:
                        bare_step(model, opt, xb, yb, steps, step)

            bare_seconds = timed(device, bare)
            if rnd:
                row["ours"].append(seconds / batches)
                row["bare"].append(bare_seconds / batches)
    for row in rows:
        row["ours_median_s"] = statistics.median(row["ours"])
        row["bare_median_s"] = statistics.median(row["bare"])
        row["ratio"] = row["ours_median_s"] / row["bare_median_s"]
    return {"data": source, "width": width, "batches_per_run": batches, "rounds": rounds, "rows": rows,
            "sync_check": sync}


def machine(device: str) -> Dict[str, str]:
    info = {"torch": torch.__version__, "device": device, "cpu_threads": str(torch.get_num_threads())}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = str(torch.version.cuda)
    return info


def markdown(result: Dict[str, Any]) -> str:
    m, t, a = result["machine"], result["timing"], result["agreement"]
    lines = ["# GPU check", "", f"Generated by `benchmarks/gpu_check.py` on {m.get('gpu', m['device'])} (torch "
             f"{m['torch']}, CUDA {m.get('cuda', '-')}){' - CPU smoke run, toy sizes' if result['smoke'] else ''}.",
             "", "## Tests on the device", "", f"`{result['tests']['summary']}` ({result['tests']['seconds']:.0f} s)"]
    lines += [f"- {f}" for f in result["tests"]["failures"]]
    lines += ["", "## One epoch, CPU vs device (same weights, value-derived random starts, TF32 off)", "",
              f"Data: {a['data']}, {a['n']} images, small CNN, batch 64.", "",
              "| method | max abs weight difference | largest weight | loss CPU | loss device |",
              "|---|---|---|---|---|"]
    dev = m["device"]
    for name in ("pgd-10", "atas"):
        r = a[name]
        lines.append(f"| {name} | {r['max_abs_weight_diff']:.3g} | {r['max_abs_weight']:.3g} | {r['loss_cpu']:.6f} | "
                     f"{r[f'loss_{dev}']:.6f} |")
    lines += ["", f"## Seconds per batch (median of {t['rounds']} interleaved rounds, {t['batches_per_run']} batches "
              f"per run, PreAct-ResNet-18 width {t['width']}, {t['data']})", "",
              "| method | batch | variant | art-accel | bare PyTorch, same passes | ratio |",
              "|---|---|---|---|---|---|"]
    for r in t["rows"]:
        lines.append(f"| {r['method']} | {r['batch']} | {r['variant']} | {r['ours_median_s']:.4f} | "
                     f"{r['bare_median_s']:.4f} | {r['ratio']:.2f} |")
    if t["sync_check"]:
        lines += ["", "Host syncs in one epoch's batches:", ""]
        lines += [f"- {k}: {v}" for k, v in t["sync_check"].items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks"))
    parser.add_argument("--cpu-smoke", action="store_true", help="every step on the CPU at toy sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--test-timeout", type=int, default=240)
    args = parser.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing was checked")
        return 0
    device = "cpu" if args.cpu_smoke else "cuda"
    start = time.perf_counter()
    tests = ({"returncode": None, "summary": "not run in the CPU smoke run (the suite runs on the CPU anyway)",
              "seconds": 0.0, "failures": []} if args.cpu_smoke else run_tests(device, args.test_timeout))
    if args.cpu_smoke:
        agree = agreement(device, args.data_dir, 64)
        # width 8, not 4: torch 2.14.1's oneDNN corrupts the heap in the weight gradient of a channels_last 1x1
        # stride-2 convolution with 2-7 input channels on AVX2 CPUs (docs/guide.rst, "Speed options")
        times = timing(device, args.data_dir, width=8, batches=1, batch_sizes=[4, 8], rounds=1, sync_check=False)
    else:
        agree = agreement(device, args.data_dir, 1024)
        times = timing(device, args.data_dir, width=64, batches=8, batch_sizes=[128, 512], rounds=args.rounds,
                       sync_check=True)
    result = {"smoke": args.cpu_smoke, "machine": machine(device), "tests": tests, "agreement": agree,
              "timing": times, "seconds": time.perf_counter() - start}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_check.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, default=float)
    with open(os.path.join(args.out, "gpu_check.md"), "w", encoding="utf-8") as f:
        f.write(markdown(result))
    print(f"gpu_check: {result['seconds']:.0f} s -> {os.path.join(args.out, 'gpu_check.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
