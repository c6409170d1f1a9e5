"""
Kill -9 during training, then resume in a new process: the result is bit-exact with an uninterrupted run
(CPU, shuffled batches, PGD and ATAS). The child writes a checkpoint after every epoch; the parent kills it
as soon as the checkpoint of epoch 1 exists, whatever it is doing then.
"""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = """
import sys, time, torch
sys.path.insert(0, {here!r})
torch.set_num_threads(1)
from digests import _classifier, _data
from art_accel import AdversarialTrainerATAS, AdversarialTrainerPGD

def make(clf):
    if {method!r} == "pgd":
        return AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, verbose=False)
    return AdversarialTrainerATAS(clf, eps=0.1, warmup_epochs=1, verbose=False)

clf = _classifier()
if {slow}:  # slows the run down so that the kill lands mid-epoch
    clf.model.register_forward_pre_hook(lambda module, inputs: time.sleep(0.002))
torch.manual_seed(1)
x, y = _data()
make(clf).fit(x, y, nb_epochs={epochs}, batch_size=8, checkpoint_path={path!r}, resume_from={resume!r})
torch.save(clf.model.state_dict(), {out!r})
"""


def _run(method, path, out, epochs, resume=None, slow=False, background=False):
    code = SCRIPT.format(here=HERE, method=method, path=path, out=out, epochs=epochs, resume=resume, slow=slow)
    if background:
        return subprocess.Popen([sys.executable, "-c", code])
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("method", ["pgd", "atas"])
def test_kill_9_then_resume_is_bit_exact(tmp_path, method):
    full_out = str(tmp_path / "full.pt")
    _run(method, str(tmp_path / "full_ckpt.pt"), full_out, epochs=4)

    path, out = str(tmp_path / "ckpt.pt"), str(tmp_path / "resumed.pt")
    child = _run(method, path, out, epochs=4, slow=True, background=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(path) and torch.load(path, weights_only=True)["payload"]["epoch"] >= 1:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not os.path.exists(out), "the child finished before it was killed"
    _run(method, path, out, epochs=4, resume=path)

    full, resumed = torch.load(full_out, weights_only=True), torch.load(out, weights_only=True)
    assert all(torch.equal(full[k], resumed[k]) for k in full)
