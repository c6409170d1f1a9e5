"""The on-device adapter against ART's own PGD, per-sample budgets and pass costs."""
import numpy as np
import pytest
import torch
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

from art_accel.attacks import OnDevicePGD, project
from art_accel.network import Network

from conftest import make_classifier


def _art_pgd(clf, eps, eps_step, max_iter, num_random_init=0):
    return ProjectedGradientDescent(clf, norm=np.inf, eps=eps, eps_step=eps_step, max_iter=max_iter,
                                    num_random_init=num_random_init, batch_size=64, verbose=False)


@pytest.mark.parametrize("preprocessing", [None, (0.4, 0.25)])
def test_matches_art_pgd(data, preprocessing):
    clf = make_classifier(preprocessing=preprocessing)
    x, y = data
    art_attack = _art_pgd(clf, 0.1, 0.02, 7)
    expected = art_attack.generate(x, y)
    ours = OnDevicePGD.from_art(art_attack)
    res = ours.perturb(torch.from_numpy(x), torch.from_numpy(y))
    assert np.abs(res.x_adv.numpy() - expected).max() <= 1e-6
    assert torch.allclose(res.delta, res.x_adv - torch.from_numpy(x))
    assert res.grad.shape == x.shape


def test_per_sample_budgets_equal_art_run_once_per_sample(data):
    clf = make_classifier()
    x, y = data
    x, y = x[:6], y[:6]
    eps = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.3], dtype=np.float32)
    step = eps / 3 + 0.001
    res = OnDevicePGD(clf, 0.1, 0.01, 5).perturb(torch.from_numpy(x), torch.from_numpy(y),
                                                 eps=torch.from_numpy(eps), eps_step=torch.from_numpy(step))
    for i in range(6):
        expected = _art_pgd(clf, float(eps[i]), float(step[i]), 5).generate(x[i : i + 1], y[i : i + 1])
        assert np.abs(res.x_adv[i : i + 1].numpy() - expected).max() <= 1e-6
    linf = (res.x_adv - torch.from_numpy(x)).abs().flatten(1).max(1).values
    assert torch.all(linf <= torch.from_numpy(eps) + 1e-7)


def test_per_sample_eps_with_random_init_stays_in_each_ball(data):
    clf = make_classifier()
    x = torch.from_numpy(data[0][:8])
    y = torch.from_numpy(data[1][:8])
    eps = torch.linspace(0.0, 0.35, 8)
    torch.manual_seed(1)
    res = OnDevicePGD(clf, 0.1, 0.05, 3, num_random_init=1).perturb(x, y, eps=eps)
    linf = res.delta.abs().flatten(1).max(1).values
    assert torch.all(linf <= eps + 1e-7)
    assert linf[0] == 0 and linf[-1] > 0.1
    assert float(res.x_adv.min()) >= 0.0 and float(res.x_adv.max()) <= 1.0


def test_fgsm_is_one_step_pgd(data):
    clf = make_classifier()
    x, y = data
    fgsm = FastGradientMethod(clf, norm=np.inf, eps=0.1, batch_size=64)
    expected = fgsm.generate(x, y)
    ours = OnDevicePGD.from_art(fgsm)
    assert ours.max_iter == 1 and ours.eps_step == 0.1
    res = ours.perturb(torch.from_numpy(x), torch.from_numpy(y))
    assert np.abs(res.x_adv.numpy() - expected).max() <= 1e-6


def test_attack_costs_k_passes_and_no_parameter_gradients(data):
    clf = make_classifier()
    net = Network(clf)
    weight_grads = []
    for p in clf.model.parameters():
        p.register_hook(lambda g: weight_grads.append(g))
    forwards = []
    clf.model.register_forward_hook(lambda *a: forwards.append(1))
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    OnDevicePGD(net, 0.1, 0.02, 10, num_random_init=1).perturb(x, y)
    assert net.counter.forward == {"attack": 10} and net.counter.backward == {"attack": 10}
    assert len(forwards) == 10
    assert weight_grads == []
    assert all(p.grad is None for p in clf.model.parameters())


def test_restarts_keep_the_highest_loss(data):
    clf = make_classifier()
    net = Network(clf)
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    torch.manual_seed(0)
    res = OnDevicePGD(net, 0.1, 0.02, 2, num_random_init=3).perturb(x, y)
    # 3 restarts x (2 steps + 1 scoring forward)
    assert net.counter.forward == {"attack": 9} and net.counter.backward == {"attack": 6}
    assert res.delta.abs().max() <= 0.1 + 1e-7


def test_bad_budgets_rejected(data):
    clf = make_classifier()
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    with pytest.raises(ValueError, match="eps"):
        OnDevicePGD(clf, 0.1, 0.02, 2).perturb(x, y, eps=torch.ones(3))
    with pytest.raises(ValueError, match="max_iter"):
        OnDevicePGD(clf, 0.1, 0.02, -1)
    with pytest.raises(ValueError, match="norm"):
        OnDevicePGD.from_art(ProjectedGradientDescent(clf, norm=2, eps=0.1, eps_step=0.02, verbose=False))


def test_project_clips_then_projects():
    x = torch.tensor([[0.95, 0.5, 0.0]])
    out = project(torch.tensor([[1.2, 0.9, -0.3]]), x, 0.1, (0.0, 1.0))
    assert torch.allclose(out, torch.tensor([[1.0, 0.6, 0.0]]))
