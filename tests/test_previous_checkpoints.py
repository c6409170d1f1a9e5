"""
Checkpoints written by the previous version (0.2.0.dev0, before the loop-parts contract; files made with that
version's code by ``fit(..., nb_epochs=2, checkpoint_path=...)`` on the data below) resume here and train on
exactly as this version trains without interruption, or are refused with a message naming what changed. Bit-exact
on the platform the files were written on (``platform.txt``, see ``digests.platform_key``); elsewhere the CPU's
kernels differ in the last bits, so the weights are compared to 1e-6 and the history's epochs exactly.
"""
import os

import numpy as np
import pytest
import torch

import art_accel
from art_accel.checkpoint import CheckpointError

import digests
from conftest import make_classifier

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "checkpoints_0.2.0.dev0")
with open(os.path.join(FOLDER, "platform.txt"), encoding="utf-8") as _f:
    WRITTEN_ON = _f.read().strip()
CASES = [("pgd", art_accel.AdversarialTrainerPGD, {"max_iter": 2}),
         ("atas", art_accel.AdversarialTrainerATAS, {"warmup_epochs": 0}),
         ("deat", art_accel.AdversarialTrainerDEAT, {})]


def _data():
    rng = np.random.default_rng(0)
    return rng.random((40, 1, 8, 8), dtype=np.float32), rng.integers(0, 4, 40)


@pytest.mark.parametrize("name,cls,kwargs", CASES, ids=[c[0] for c in CASES])
def test_previous_checkpoint_resumes_bit_exactly(name, cls, kwargs):
    x, y = _data()
    torch.manual_seed(0)
    ref = cls(make_classifier(), eps=0.1, verbose=False, **kwargs)
    ref.fit(x, y, nb_epochs=3, batch_size=16)
    clf = make_classifier()
    resumed = cls(clf, eps=0.1, verbose=False, **kwargs)
    h = resumed.fit(x, y, nb_epochs=3, batch_size=16, resume_from=os.path.join(FOLDER, f"{name}.pt"))
    assert [r["epoch"] for r in h.records] == [0, 1, 2]
    pairs = list(zip(ref.classifier.model.state_dict().values(), clf.model.state_dict().values()))
    if digests.platform_key() == WRITTEN_ON:
        assert all(torch.equal(a, b) for a, b in pairs)
        assert h.records[-1]["loss"] == ref.history.records[-1]["loss"]
    else:
        assert all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in pairs), f"written on {WRITTEN_ON}"
        assert h.records[-1]["loss"] == pytest.approx(ref.history.records[-1]["loss"], rel=1e-5)


def test_previous_free_checkpoint_is_refused_naming_the_changed_setting():
    # Free's replays now live in the trainer's attack strength (max_iter = replays - 1; the file says 0)
    x, y = _data()
    clf = make_classifier()
    before = {k: v.clone() for k, v in clf.model.state_dict().items()}
    t = art_accel.AdversarialTrainerFree(clf, eps=0.1, nb_replays=2, verbose=False)
    with pytest.raises(CheckpointError, match=r"another configuration: max_iter=0 \(now 1\)"):
        t.fit(x, y, nb_epochs=3, batch_size=16, resume_from=os.path.join(FOLDER, "free.pt"))
    assert all(torch.equal(before[k], v) for k, v in clf.model.state_dict().items())
