"""ART's AWP under a recipe's per-batch one-cycle: one ``fit`` per batch, the LR of every batch exactly ours."""
import dataclasses
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

from configs import CONFIGS  # noqa: E402
from run import load_data, make_classifier, run_art  # noqa: E402


def test_art_awp_fit_per_batch_follows_the_per_batch_one_cycle_and_its_warm_up(monkeypatch):
    from art.defences.trainer import AdversarialTrainerAWPPyTorch

    cfg = dataclasses.replace(CONFIGS["smoke"], n_train=40, batch_size=16, epochs=3, n_val=8, lr=0.05,
                              lr_schedule="onecycle", eps_ramp=1)
    data = load_data(cfg, "")
    clf = make_classifier(cfg, 0, data.x_train.shape[1:], 10)
    calls = []
    original = AdversarialTrainerAWPPyTorch.fit

    def spy(self, x, y, **kwargs):
        calls.append((len(x), kwargs["nb_epochs"], kwargs["batch_size"], self._warmup,
                      float(clf.optimizer.param_groups[0]["lr"]), x.copy()))
        return original(self, x, y, **kwargs)

    monkeypatch.setattr(AdversarialTrainerAWPPyTorch, "fit", spy)
    result = run_art("ART:awp", {"max_iter": 2, "warmup": 2, "fit_per_batch": True}, clf, cfg, data, seed=0)

    batches = 3  # 40 images in batches of 16: 16, 16, 8
    assert [c[0] for c in calls] == [16, 16, 8] * cfg.epochs
    assert all(c[1] == 1 and c[2] == c[0] for c in calls)
    # the first 2 epochs by the trainer built with warmup=1 (no weight perturbation), then warmup=0
    assert [c[3] for c in calls] == [1] * (2 * batches) + [0] * batches
    # the LR of each call is the one-cycle planned over epochs x batches, stepped once per batch
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=cfg.lr, total_steps=cfg.epochs * batches)
    expected = []
    for _ in range(cfg.epochs * batches):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        schedule.step()
    assert [c[4] for c in calls] == expected
    # each epoch's batches are a permutation of the training set
    flat = data.x_train.reshape(len(data.x_train), -1)
    for epoch in range(cfg.epochs):
        seen = np.concatenate([c[5] for c in calls[epoch * batches:(epoch + 1) * batches]]).reshape(40, -1)
        assert sorted(map(bytes, seen)) == sorted(map(bytes, flat))
    assert "one fit(nb_epochs=1) per batch" in result["history"]["config"]["recipe"]
    assert [r["lr"] for r in result["history"]["records"]] == expected[::batches]
