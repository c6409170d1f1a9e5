"""
Remake the previous-version checkpoints that tests/test_previous_checkpoints.py resumes.

Run it with the code of 0.2.0.dev0 before the loop-parts contract (commit 8cb33eb), not with the current code; it
also writes ``platform.txt``, the platform the files were written on (``digests.platform_key()``), where the test
asks for bit-exactness::

    git worktree add /tmp/prev 8cb33eb
    python tests/data/checkpoints_0.2.0.dev0/make.py /tmp/prev
"""
import os
import sys

import numpy as np
import torch

ROOT = os.path.abspath(sys.argv[1])
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import art_accel  # noqa: E402

import digests  # noqa: E402
from conftest import make_classifier  # noqa: E402

assert os.path.dirname(os.path.dirname(os.path.abspath(art_accel.__file__))) == ROOT, art_accel.__file__
OUT = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)
x, y = rng.random((40, 1, 8, 8), dtype=np.float32), rng.integers(0, 4, 40)
CASES = [("pgd", art_accel.AdversarialTrainerPGD, {"max_iter": 2}),
         ("atas", art_accel.AdversarialTrainerATAS, {"warmup_epochs": 0}),
         ("deat", art_accel.AdversarialTrainerDEAT, {}),
         ("free", art_accel.AdversarialTrainerFree, {"nb_replays": 2})]
for name, cls, kwargs in CASES:
    torch.manual_seed(0)
    trainer = cls(make_classifier(), eps=0.1, verbose=False, **kwargs)
    trainer.fit(x, y, nb_epochs=2, batch_size=16, checkpoint_path=os.path.join(OUT, f"{name}.pt"))
    print(name, "written")
with open(os.path.join(OUT, "platform.txt"), "w", encoding="utf-8") as f:
    f.write(digests.platform_key() + "\n")
