"""Worker processes for tests/test_distributed.py (gloo, CPU): one function per scenario."""
import json
import os

import torch
import torch.distributed as dist


def _setup(rank, world, init_file):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)


def _classifier():
    from digests import _classifier as make

    return make()


def run(rank, world, init_file, task, out):
    _setup(rank, world, init_file)
    try:
        globals()[task](rank, out)
        dist.barrier()  # no rank tears the group down while another still uses it
    finally:
        dist.destroy_process_group()


def pgd_equivalence(rank, out):
    from art_accel import AdversarialTrainerPGD
    from art_accel.distributed import sharded_loader

    from digests import _data

    x, y = _data()
    clf = _classifier()
    t = AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, num_random_init=0, verbose=False)
    h = t.fit_loader(sharded_loader(x, y, batch_size=8, shuffle=False), nb_epochs=2)
    if rank == 0:
        torch.save(clf.model.state_dict(), os.path.join(out, "weights.pt"))
    with open(os.path.join(out, f"history{rank}.json"), "w") as f:
        json.dump([{k: v for k, v in r.items() if "seconds" not in k} for r in h.records], f)


def atas_state(rank, out):
    from art_accel import AdversarialTrainerATAS
    from art_accel.distributed import sharded_loader
    from art_accel.state import PerSampleState

    from digests import _data

    writes = {}
    original = PerSampleState.set

    def counting(self, name, index, values):
        for i in self._local(index).tolist():
            writes.setdefault(name, []).append(i)
        original(self, name, index, values)

    PerSampleState.set = counting
    x, y = _data()
    t = AdversarialTrainerATAS(_classifier(), eps=0.1, warmup_epochs=0, verbose=False)
    h = t.fit_loader(sharded_loader(x, y, batch_size=8), nb_epochs=1)
    with open(os.path.join(out, f"atas{rank}.json"), "w") as f:
        json.dump({"writes": writes, "rows": t.state.rows, "v_positive": bool((t.state["v"] > 0).all()),
                   "passes": [h["forward_passes"][0], h["backward_passes"][0]]}, f)


def _atas_run(out, epochs, checkpoint=None, resume=None):
    from art_accel import AdversarialTrainerATAS
    from art_accel.distributed import sharded_loader

    from digests import _data

    torch.manual_seed(1 + dist.get_rank())
    x, y = _data()
    clf = _classifier()
    t = AdversarialTrainerATAS(clf, eps=0.1, warmup_epochs=1, verbose=False)
    t.fit_loader(sharded_loader(x, y, batch_size=8, seed=3), nb_epochs=epochs, checkpoint_path=checkpoint,
                 resume_from=resume)
    if dist.get_rank() == 0:
        torch.save(clf.model.state_dict(), out)


def atas_full(rank, out):
    _atas_run(os.path.join(out, "full.pt"), 4)


def atas_first_half(rank, out):
    _atas_run(os.path.join(out, "half.pt"), 2, checkpoint=os.path.join(out, "ckpt.pt"))


def atas_resumed(rank, out):
    path = os.path.join(out, "ckpt.pt")
    _atas_run(os.path.join(out, "resumed.pt"), 4, checkpoint=path, resume=path)


def pgd_averaging(rank, out):
    from art_accel import AdversarialTrainerPGD
    from art_accel.averaging import EMA
    from art_accel.distributed import sharded_loader

    from digests import _data

    x, y = _data()
    clf = _classifier()
    ema = EMA(decay=0.8)
    t = AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, num_random_init=0, averaging=ema, verbose=False)
    t.fit_loader(sharded_loader(x, y, batch_size=8, shuffle=False), nb_epochs=2)
    torch.save(ema.average, os.path.join(out, f"average{rank}.pt"))
