"""
No registered method reads a tensor back to the host during its batches: while the method's per-batch work runs
(the base's train_batch: schedules, budgets, attack, update; and every part's on_batch_end), the tensor methods
that force a device synchronisation are replaced by recorders, for two epochs of every registered name, and of the
single-step methods with the guard and weight averaging on. Per-epoch reads (epoch ends) are allowed. On CPU
this sees the Python-level calls; boolean-mask indexing, which synchronises inside C++, is what
``benchmarks/gpu_check.py`` checks on CUDA with ``torch.cuda.set_sync_debug_mode("error")``.
"""
import pytest
import torch

from art_accel.registry import METHODS

from digests import _classifier, _data

SYNCING = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__", "nonzero")
EXTRA = {"ecas": {"h_low": 1.2, "h_high": 1.37}}


def _recording(monkeypatch, calls):
    """A context in which every synchronising tensor method records its name (and then runs)."""
    context = monkeypatch.context()
    m = context.__enter__()
    for name in SYNCING:
        original = getattr(torch.Tensor, name)

        def recorder(self, *a, _name=name, _original=original, **k):
            calls.append(_name)
            return _original(self, *a, **k)

        m.setattr(torch.Tensor, name, recorder)
    return context


def _watched(fn, monkeypatch, calls):
    def run(*a, **k):
        context = _recording(monkeypatch, calls)
        try:
            return fn(*a, **k)
        finally:
            context.__exit__(None, None, None)

    return run


CASES = [(name, {}) for name in sorted(METHODS)] + [
    (name, {"co_guard": True, "averaging": 0.99}) for name in ("fgsm", "atas", "nfgsm")]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[n + ("+guard+ema" if k else "") for n, k in CASES])
def test_no_host_read_in_any_batch(name, kwargs, monkeypatch):
    x, y = _data()
    t = METHODS[name](_classifier(), eps=0.1, verbose=False, **EXTRA.get(name.split("-")[0], {}), **kwargs)
    calls = []
    t.objective.train_batch = _watched(t.objective.train_batch, monkeypatch, calls)
    for part in t.parts:
        part.on_batch_end = _watched(part.on_batch_end, monkeypatch, calls)
    h = t.fit(x, y, batch_size=16, nb_epochs=2)
    assert h["backward_passes"][0] > 0
    assert calls == [], f"{name}: synchronising calls per batch: {sorted(set(calls))}"


def test_the_recorder_sees_a_host_read(monkeypatch):
    # the check can fail: a part that reads its loss back to the host each batch is caught
    x, y = _data()
    t = METHODS["fgsm"](_classifier(), eps=0.1, verbose=False)
    calls = []
    original = t.objective.train_batch

    def reading(batch):
        out = original(batch)
        float(out.loss)
        return out

    t.objective.train_batch = _watched(reading, monkeypatch, calls)
    t.fit(x, y, batch_size=16, nb_epochs=1)
    assert calls and set(calls) == {"__float__"}
