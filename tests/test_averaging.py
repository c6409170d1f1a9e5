"""Weight averaging (EMA): the closed form, the decay's warm-up epoch by epoch, no host read per batch, no extra
pass, BatchNorm buffers, validation of the averaged model, continuation and resume bit-exact, the guard's
rollback restoring the average, bad input."""
import pytest
import torch

import art_accel
from art_accel.averaging import EMA
from art_accel.guard import OverfittingGuard

from conftest import make_classifier

EPS = 0.1


def _fgsm(averaging, clf=None, **kw):
    return art_accel.AdversarialTrainerFGSM(clf or make_classifier(), eps=EPS, averaging=averaging, verbose=False, **kw)


def _fit(t, data, epochs=2, **kw):
    torch.manual_seed(0)
    return t.fit(*data, nb_epochs=epochs, batch_size=16, **kw)


def test_the_average_is_the_closed_form_of_the_live_weights(data):
    ema = EMA(decay=0.5)
    t = _fgsm(ema)
    seen = [{k: v.detach().double().clone() for k, v in t.classifier.model.state_dict().items()}]
    original = ema.on_batch_end

    def spy(batch, out):
        seen.append({k: v.detach().double().clone() for k, v in t.classifier.model.state_dict().items()})
        original(batch, out)

    ema.on_batch_end = spy
    _fit(t, data, epochs=2)  # 40 samples, batch 16: 3 updates per epoch
    expected = dict(seen[0])
    for n, w in enumerate(seen[1:]):
        d = min(0.5, (1 + n) / (10 + n))
        expected = {k: d * expected[k] + (1 - d) * w[k] for k in w}
    assert ema.updates == 6
    for k, v in ema.average.items():
        assert torch.allclose(v.double(), expected[k], atol=1e-6)
    final = t.classifier.model.state_dict()  # final="average": the classifier holds the average
    assert all(torch.equal(final[k], ema.average[k]) for k in final)


def test_decay_warm_up_epoch_by_epoch(data):
    h = _fit(_fgsm(EMA(decay=0.9)), data, epochs=4)
    assert h["averaging_updates"] == [3, 6, 9, 12]
    assert h["averaging_decay"] == pytest.approx([3 / 12, 6 / 15, min(0.9, 9 / 18), min(0.9, 12 / 21)])
    assert EMA(decay=0.9, warmup=False).decay_at(0) == 0.9
    assert [EMA(0.2).decay_at(n) for n in (0, 1, 2)] == pytest.approx([0.1, 2 / 11, 0.2])


def test_no_host_read_and_no_pass_per_batch(data, monkeypatch):
    ema = EMA()
    t = _fgsm(ema)
    calls = []
    original = ema.on_batch_end

    def guarded(batch, out):
        with monkeypatch.context() as m:
            for name in ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"):
                m.setattr(torch.Tensor, name, lambda *a, _n=name, **k: calls.append(_n))
            original(batch, out)

    ema.on_batch_end = guarded
    h = _fit(t, data)
    assert calls == []  # no synchronising call in the average's update
    h0 = _fit(_fgsm(None), data)
    assert h["forward_passes"] == h0["forward_passes"] and h["backward_passes"] == h0["backward_passes"]


def test_the_live_run_is_unchanged_and_final_live_keeps_it(data):
    a, b = make_classifier(), make_classifier()
    _fit(_fgsm(EMA(final="live"), a), data, epochs=3)
    _fit(_fgsm(None, b), data, epochs=3)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))


def test_batchnorm_buffers_are_the_live_models(data):
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.Flatten(), torch.nn.Linear(256, 4))
    ema = EMA(final="live")
    t = _fgsm(ema, make_classifier(model=model))
    _fit(t, data)
    live = t.classifier.model.state_dict()
    for k in ("1.running_mean", "1.running_var", "1.num_batches_tracked"):
        assert torch.equal(ema.average[k].to(live[k].dtype), live[k])
    assert not torch.equal(ema.average["0.weight"], live["0.weight"])  # weights are averaged, not copied


def test_validation_judges_the_average_and_records_the_live_model(data):
    ema = EMA(decay=0.5)
    t = _fgsm(ema)
    h = _fit(t, data, epochs=2, validation_data=data, validation_max_iter=2)
    assert "val_live_robust_accuracy" in h.keys()
    # after fit the model holds the average: validating it directly gives the record's val_* entries
    from art_accel.robust_accuracy import validation_accuracy

    direct = validation_accuracy(t.network, torch.as_tensor(data[0]), torch.as_tensor(data[1]), EPS, 2)
    assert direct["val_robust_accuracy"] == h["val_robust_accuracy"][-1]
    assert direct["val_accuracy"] == h["val_accuracy"][-1]


def test_continuation_and_resume_are_bit_exact(tmp_path, data):
    one, split, resumed = make_classifier(), make_classifier(), make_classifier()
    _fit(_fgsm(EMA(0.8), one), data, epochs=3)
    t = _fgsm(EMA(0.8), split)
    torch.manual_seed(0)
    for _ in range(3):
        t.fit(*data, nb_epochs=1, batch_size=16)
    _fit(_fgsm(EMA(0.8), make_classifier()), data, epochs=2, checkpoint_path=str(tmp_path / "c.pt"))
    r = _fgsm(EMA(0.8), resumed)
    r.fit(*data, nb_epochs=3, batch_size=16, resume_from=str(tmp_path / "c.pt"))
    for clf in (split, resumed):
        assert all(torch.equal(x, y) for x, y in zip(one.model.state_dict().values(), clf.model.state_dict().values()))


def test_a_guard_rollback_restores_the_average(data):
    ema = EMA(0.5)
    t = _fgsm(ema, co_guard=OverfittingGuard())
    guard, values, seen = t.part(OverfittingGuard), iter([(0.5, 0.4), (0.6, 0.1)]), {}
    guard.measure = lambda: dict(zip(("co_single_acc", "co_multi_acc"), next(values)))
    original = guard.on_epoch_end

    def spy(epoch, record):
        out = original(epoch, record)
        seen[epoch] = {k: v.clone() for k, v in ema.average.items()}
        return out

    guard.on_epoch_end = spy
    with pytest.warns(UserWarning, match="restored epoch 0"):
        _fit(t, data, epochs=2)
    assert all(torch.equal(seen[1][k], seen[0][k]) for k in seen[0]) and ema.updates == 3


@pytest.mark.parametrize("value,err,match", [(0.0, ValueError, "decay"), (1.0, ValueError, "decay"),
                                             (1.5, ValueError, "decay"), ("0.9", TypeError, "decay")])
def test_bad_decay(value, err, match):
    with pytest.raises(err, match=match):
        EMA(decay=value)


def test_averaging_given_wrongly_or_twice_is_refused():
    with pytest.raises(TypeError, match="averaging must be"):
        _fgsm([EMA(), EMA()])
    assert _fgsm(0.99).averaging.decay == 0.99  # a decay is shorthand for EMA(decay)
    with pytest.raises(ValueError, match="decay"):
        _fgsm(1.5)
    ema = EMA()
    _fgsm(ema)
    with pytest.raises(ValueError, match="another trainer"):
        _fgsm(ema)
    with pytest.raises(ValueError, match="final"):
        EMA(final="best")


def test_load_weights_takes_the_average_of_a_checkpoint(tmp_path, data):
    ema = EMA(0.5, final="live")
    t = _fgsm(ema)
    _fit(t, data, epochs=2, checkpoint_path=str(tmp_path / "c.pt"))
    avg, live = make_classifier(), make_classifier()
    assert art_accel.load_weights(avg, str(tmp_path / "c.pt")) == 1
    art_accel.load_weights(live, str(tmp_path / "c.pt"), averaged=False)
    assert all(torch.equal(avg.model.state_dict()[k], ema.average[k]) for k in ema.average)
    assert all(torch.equal(live.model.state_dict()[k], v) for k, v in t.classifier.model.state_dict().items())
