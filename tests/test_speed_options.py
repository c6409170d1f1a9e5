"""Mixed precision, channels_last, the skipped identity standardisation and on-device evaluation."""
import numpy as np
import pytest
import torch
from art.attacks.evasion import ProjectedGradientDescent

import art_accel
from art_accel.evaluation import MarginLoss, _margin_twin, _on_device_accuracy
from art_accel.network import Network

from conftest import make_classifier
from digests import _classifier, _data


def test_bf16_same_passes_and_still_learns():
    x, y = _data()
    h32 = art_accel.AdversarialTrainerPGD(_classifier(), eps=0.1, max_iter=2, verbose=False).fit(
        x, y, nb_epochs=8, batch_size=16)
    clf = _classifier()
    t = art_accel.AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, precision="bf16", verbose=False)
    h16 = t.fit(x, y, nb_epochs=8, batch_size=16)
    assert h16["forward_passes"] == h32["forward_passes"] == [3 * 3] * 8
    assert h16["backward_passes"] == h32["backward_passes"] == [3 * 3] * 8
    assert h16["accuracy"][-1] == 1.0 and h16["loss"][-1] < 0.5 * h16["loss"][0]  # 4 classes: chance 0.25
    assert h16["loss"] == pytest.approx(h32["loss"], rel=0.1, abs=0.02)  # follows the float32 run
    assert all(p.dtype == torch.float32 for p in clf.model.parameters())  # weights stay float32


def test_precision_is_checked():
    with pytest.raises(ValueError, match="precision"):
        art_accel.AdversarialTrainerPGD(_classifier(), eps=0.1, precision="fp8")


def test_channels_last_gives_the_same_logits_and_trains():
    x = torch.rand(6, 1, 8, 8)
    reference = Network(_classifier()).logits(x, "analysis")
    clf = _classifier()
    t = art_accel.AdversarialTrainerPGD(clf, eps=0.1, max_iter=1, memory_format="channels_last", verbose=False)
    assert torch.allclose(t.network.logits(x, "analysis"), reference, atol=1e-6)
    conv = clf.model[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    h = t.fit(*_data(), nb_epochs=1)
    assert np.isfinite(h["loss"][0])


def test_identity_standardisation_is_skipped_with_the_same_result():
    net = Network(make_classifier(preprocessing=(0.0, 1.0)))
    assert net._mean is None
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(net.logits(x), Network(make_classifier()).logits(x))
    assert Network(make_classifier(preprocessing=(0.5, 0.25)))._mean is not None


@pytest.mark.parametrize("kind", ["pgd", "cw"])
def test_on_device_evaluation_equals_arts_generate(kind):
    torch.manual_seed(0)
    clf = _classifier()
    art_accel.AdversarialTrainerPGD(clf, eps=0.1, max_iter=1, verbose=False).fit(*_data(), nb_epochs=3)
    x, y = _data()
    target = clf if kind == "pgd" else _margin_twin(clf)
    attack = ProjectedGradientDescent(target, norm=np.inf, eps=0.1, eps_step=0.025, max_iter=5, num_random_init=0,
                                      batch_size=16, verbose=False)
    art_acc = float((clf.predict(attack.generate(x, y)).argmax(1) == y).mean())
    ours = _on_device_accuracy(clf, attack, torch.from_numpy(x), torch.from_numpy(y), 16,
                               None if kind == "pgd" else MarginLoss())
    assert ours == pytest.approx(art_acc, abs=1 / len(y))  # at most one sample flips on float rounding
    res = art_accel.evaluate_robustness(clf, x, y, eps=0.1, attacks=("clean", "pgd5"), engine="art")
    assert 0.0 <= res["pgd5"] <= res["clean"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch.compile is measured slower on CPU; checked on CUDA")
def test_a_compiled_model_trains_on_cuda():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 8 * 8, 4)).cuda()
    compiled = torch.compile(model)
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(compiled, loss=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(
        compiled.parameters(), lr=0.05), input_shape=(1, 8, 8), nb_classes=4, clip_values=(0.0, 1.0),
        device_type="gpu")
    h = art_accel.AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, verbose=False).fit(*_data(), nb_epochs=2)
    assert h["backward_passes"] == [3, 3] and np.isfinite(h["loss"]).all()
