"""
Behaviour digests: every method and every ``base=`` trained from a fixed seed on a tiny model and synthetic
data (CPU, one thread), hashed (final weights; the history without its timings). ``tests/data/digests.json``
holds the recorded values; ``tests/test_digests.py`` checks that the code still produces them.

Regenerate only for an intended behaviour change, and say in the commit which cases moved and why:

    python tests/digests.py --write
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from art_accel.augmentation import RandomCropFlip
from art_accel.registry import get_method

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digests.json")
#: History keys that are measurements of time, not behaviour.
TIMING_KEYS = ("seconds", "elapsed_seconds", "val_seconds")
#: Keys kept readable next to the digest, to see what moved when a digest changes.
SUMMARY_KEYS = ("k", "eps", "eps_step", "step_mean", "forward_passes", "backward_passes", "loss")
EPOCHS = 5
ECAS = {"h_low": 1.2, "h_high": 1.37}  # 4 classes: the authors' thresholds are for 10 and 100

#: (case, registry name, keyword arguments): the benchmark method list plus every base of M+, Amata, ECAS,
#: DEAT and the variants with their own code paths.
CASES: List[Tuple[str, str, Dict[str, Any]]] = [
    ("pgd-10", "pgd", {"max_iter": 10}),
    ("pgd-7", "pgd", {"max_iter": 7}),
    ("pgd-3-zero-start", "pgd", {"max_iter": 3, "num_random_init": 0}),
    ("fgsm-rs", "fgsm", {}),
    ("free-4", "free", {"nb_replays": 4}),
    ("trades", "trades", {"max_iter": 3}),
    ("mart", "mart", {"max_iter": 3}),
    ("awp", "awp", {"max_iter": 3}),
    ("awp-warmup", "awp", {"max_iter": 2, "warmup_epochs": 2}),
    ("mplus-pgd", "mplus-pgd", {}),
    ("mplus-free", "mplus-free", {}),
    ("mplus-trades", "mplus-trades", {}),
    ("mplus-mart", "mplus-mart", {}),
    ("deat-mplus", "deat", {}),
    ("deat-3", "deat-3", {}),
    ("deat-40", "deat-40", {}),
    ("amata-pgd", "amata", {}),
    ("amata-free", "amata-free", {}),
    ("amata-fgsm", "amata-fgsm", {}),
    ("amata-floor", "amata", {"rounding": "floor", "k_min": 1, "k_max": 4}),
    ("gaat", "gaat", {}),
    ("gaat-diag", "gaat-diag", {"hutchinson_samples": 2}),
    ("dat-gaat", "dat-gaat", {}),
    ("gaat-refresh", "gaat", {"refresh_every": 3, "track_residual": True}),
    ("ecas-pgd", "ecas", dict(ECAS, max_iter=3)),
    ("ecas-trades", "ecas-trades", dict(ECAS, max_iter=3)),
    ("ecas-awp", "ecas-awp", dict(ECAS, max_iter=3)),
    ("ecas-per-sample", "ecas", dict(ECAS, max_iter=3, per_sample_draw=True, per_sample_step=True,
                                     label_smoothing=0.2)),
    ("atas", "atas", {"warmup_epochs": 1, "reset_every": 3}),
    ("atas-random-init", "atas", {"warmup_epochs": 1, "init": "random"}),
    ("atas-augmented", "atas", {"warmup_epochs": 1, "augmentation": "crop-flip"}),
    ("atas-low-res", "atas", {"warmup_epochs": 1, "delta_resolution": (4, 4)}),
    ("atta", "atta", {"reset_every": 2}),
    ("nfgsm", "nfgsm", {}),
]


def _classifier() -> PyTorchClassifier:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    return PyTorchClassifier(model, loss=nn.CrossEntropyLoss(), optimizer=opt, input_shape=(1, 8, 8),
                             nb_classes=4, clip_values=(0.0, 1.0), device_type="cpu")


def _data() -> Tuple[np.ndarray, np.ndarray]:
    """A learnable synthetic task: the class is the brightest quadrant."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 48)
    x = rng.random((48, 1, 8, 8)).astype(np.float32) * 0.6
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        x[i, 0, 4 * r: 4 * r + 4, 4 * q: 4 * q + 4] += 0.4
    return x, y


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()[:24]


def _weights_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def run_case(name: str, method: str, kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """Train one case; return its digests and a readable summary of the history."""
    kwargs = dict(kwargs)
    if kwargs.get("augmentation") == "crop-flip":
        kwargs["augmentation"] = RandomCropFlip(padding=2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        clf = _classifier()
        trainer = get_method(method)(clf, eps=0.1, verbose=False, **kwargs)
        torch.manual_seed(1)
        x, y = _data()
        history = trainer.fit(x, y, nb_epochs=EPOCHS, batch_size=16)
    finally:
        torch.set_num_threads(threads)
    records = [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in history.records]
    summary = {k: [r.get(k) for r in records] for k in SUMMARY_KEYS if any(k in r for r in records)}
    return {"weights": _weights_digest(clf.model), "history": _hash(records), "summary": summary}


def cpu_vendor() -> str:
    """The CPU vendor (``GenuineIntel``, ``AuthenticAMD``, ...): the same instruction set runs different kernels."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def platform_key() -> str:
    """What the bit-exact digests depend on: torch build, the CPU's vector instruction set and its vendor (an
    AMD EPYC with AVX512 gives other last bits than the Intel Xeon the digests were recorded on)."""
    return (f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, {platform.machine()}, "
            f"{cpu_vendor()}")


def compute_all() -> Dict[str, Any]:
    return {"platform": platform_key(), "epochs": EPOCHS,
            "cases": {name: run_case(name, method, kwargs) for name, method, kwargs in CASES}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"write {PATH}")
    args = parser.parse_args()
    result = compute_all()
    text = json.dumps(result, indent=1, sort_keys=True)
    if args.write:
        os.makedirs(os.path.dirname(PATH), exist_ok=True)
        with open(PATH, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
