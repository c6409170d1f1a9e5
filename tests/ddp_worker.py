"""Worker processes for tests/test_distributed.py (gloo, CPU): one function per scenario."""
import datetime
import json
import os

import torch
import torch.distributed as dist


def _setup(rank, world, init_file):
    torch.set_num_threads(1)
    # a collective that waits on a lost rank raises after 2 minutes (gloo's default is 30)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))


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


def content_noise(x, **kwargs):
    """A stand-in for torch.rand_like that depends only on each value (so on the sample, not on the shard):
    the random starts of a 2-rank run equal those of one process."""
    return torch.frac(torch.sin(x * 12.9898 + 0.5) * 43758.5453)


def content_normal(x, **kwargs):
    return 2.0 * content_noise(x) - 1.0


#: Pair-loss and AWP trainers compared with one process (method name -> class name, keyword arguments).
PAIR_CASES = {
    "trades": ("AdversarialTrainerTRADES", {"max_iter": 2}),
    "mart": ("AdversarialTrainerMART", {"max_iter": 2}),
    "awp": ("AdversarialTrainerAWP", {"max_iter": 2, "num_random_init": 0}),
    "awp-trades": ("AdversarialTrainerAWP", {"max_iter": 2, "base": "trades"}),
}


def pair_trainer(name):
    import art_accel

    cls, kwargs = PAIR_CASES[name]
    clf = _classifier()
    return clf, getattr(art_accel, cls)(clf, eps=0.1, verbose=False, **kwargs)


def _history(h):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in h.records]


def pair_equivalence(rank, out):
    from art_accel.distributed import sharded_loader

    from digests import _data

    torch.rand_like, torch.randn_like = content_noise, content_normal  # this worker process only
    x, y = _data()
    for name in PAIR_CASES:
        clf, t = pair_trainer(name)
        h = t.fit_loader(sharded_loader(x, y, batch_size=8, shuffle=False), nb_epochs=2)
        if rank == 0:
            torch.save(clf.model.state_dict(), os.path.join(out, f"{name}-weights.pt"))
        with open(os.path.join(out, f"{name}-history{rank}.json"), "w") as f:
            json.dump(_history(h), f)


def awp_perturbations(rank, out):
    """AWP's weight perturbation per batch on this rank (its proxy gradients all-reduced first)."""
    from art_accel.distributed import sharded_loader
    from art_accel.trainers.awp import WeightPerturbation

    from digests import _data

    seen = []
    original = WeightPerturbation._weight_perturbation

    def spy(self, batch, x_adv):
        diff = original(self, batch, x_adv)
        seen.append({k: v.clone() for k, v in diff.items()})
        return diff

    WeightPerturbation._weight_perturbation = spy
    x, y = _data()
    _, t = pair_trainer("awp")
    t.fit_loader(sharded_loader(x, y, batch_size=8), nb_epochs=1)
    torch.save(seen, os.path.join(out, f"awp-diff{rank}.pt"))


def fit_arrays(rank, out):
    """ART's fit(x, y) under torch.distributed: PGD (compared with one process) and ATAS with validation."""
    from art_accel import AdversarialTrainerATAS, AdversarialTrainerPGD

    from digests import _data

    x, y = _data()
    clf = _classifier()
    t = AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, num_random_init=0, verbose=False)
    h = t.fit(x, y, batch_size=8, nb_epochs=2, shuffle=False)
    if rank == 0:
        torch.save(clf.model.state_dict(), os.path.join(out, "fit-weights.pt"))
    torch.manual_seed(5 + rank)  # the ranks' random streams differ; the history must not
    a = AdversarialTrainerATAS(_classifier(), eps=0.1, warmup_epochs=0, verbose=False)
    ha = a.fit(x, y, batch_size=8, nb_epochs=2, validation_data=(x[:16], y[:16]))
    with open(os.path.join(out, f"fit-history{rank}.json"), "w") as f:
        json.dump({"pgd": _history(h), "atas": _history(ha), "rows": a.state.rows}, f)


def guard_decides_together(rank, out):
    """FGSM-RS with the guard; each rank's slice counts are scripted so that rank 0 alone would see a collapse
    at epoch 1 and the sum does not; at epoch 2 the sum does."""
    from art_accel import AdversarialTrainerFGSM
    from art_accel import guard as guard_module
    from art_accel.distributed import sharded_loader
    from art_accel.guard import OverfittingGuard

    from digests import _data

    # (single, multi) correct of 16 per epoch: rank 0 collapses alone at epoch 1, both at epoch 2
    script = {0: [(8, 6), (10, 1), (10, 1)], 1: [(8, 6), (10, 6), (10, 1)]}[rank]
    counts = iter([c for pair in script for c in pair])
    guard_module.correct_under = lambda *a, **k: torch.tensor(next(counts))
    x, y = _data()
    clf = _classifier()
    t = AdversarialTrainerFGSM(clf, eps=0.1, co_guard=OverfittingGuard(slice_size=16), verbose=False)
    part, weights = t.part(OverfittingGuard), {}
    original = part.on_epoch_end

    def spy(epoch, record):
        result = original(epoch, record)
        weights[epoch] = {k: v.clone() for k, v in clf.model.state_dict().items()}
        return result

    part.on_epoch_end = spy
    torch.manual_seed(1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = t.fit_loader(sharded_loader(x, y, batch_size=8), nb_epochs=3)
    torch.save(weights, os.path.join(out, f"guard-weights{rank}.pt"))
    with open(os.path.join(out, f"guard-history{rank}.json"), "w") as f:
        json.dump(_history(h), f)
