"""GAAT: the Gauss-Newton collapse identity, the Hutchinson diagonal, exact passes, residual, bad input."""
import math

import pytest
import torch
from torch import nn

from art_accel import AdversarialTrainerGAAT
from art_accel.attacks import project

from conftest import make_classifier

EPS = 0.1


@pytest.mark.parametrize("max_iter,step", [(10, EPS / 4), (3, EPS / 4), (1, EPS), (7, 0.003)])
@pytest.mark.parametrize("random_start", [0, 1])
def test_gauss_newton_gaat_is_one_fgsm_step(data, max_iter, step, random_start):
    """With H = J J^T every step has the sign of J: T steps of alpha == one step of T * alpha, projected."""
    t = AdversarialTrainerGAAT(make_classifier(), eps=EPS, eps_step=step, max_iter=max_iter,
                               num_random_init=random_start, verbose=False)
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    x_adv = t.attack.perturb(x, y).x_adv
    x_ref, jac, _ = t.attack.first
    expected = project(x_ref + max_iter * step * jac.sign(), x, EPS, (0.0, 1.0))
    assert torch.allclose(x_adv, expected, atol=1e-6)
    linf = (x_adv - x).abs().flatten(1).max(1).values
    if not random_start:
        assert torch.allclose(linf, torch.full_like(linf, min(max_iter * step, EPS)), atol=1e-6)


def test_curvature_can_turn_the_step_back(data):
    """A negative curvature (as the diagonal Hessian may have) makes later steps differ from sign(J)."""
    t = AdversarialTrainerGAAT(make_classifier(), eps=0.4, eps_step=0.2, max_iter=2, num_random_init=0,
                               verbose=False)
    x = torch.full((2, 1, 8, 8), 0.5)
    y = torch.tensor([0, 1])
    t.attack.expansion = lambda x_ref, y, loss_fn: (torch.ones_like(x_ref), lambda u: -10.0 * u)
    x_adv = t.attack.perturb(x, y).x_adv
    # step 1: +0.2 (J = 1); step 2: sign(1 - 10 * 0.2) = -1 -> back to 0
    assert torch.allclose(x_adv, x)


def test_hutchinson_diagonal_matches_the_exact_hessian_diagonal():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    clf = make_classifier(model=model, input_shape=(1, 2, 2), nb_classes=3)
    t = AdversarialTrainerGAAT(clf, eps=EPS, hessian="diagonal", hutchinson_samples=4000, verbose=False)
    x = torch.rand(1, 1, 2, 2)
    y = torch.tensor([2])
    _, curv = t.attack.expansion(x, y)
    estimate = curv(torch.ones_like(x)).flatten()

    def loss(flat):
        return nn.functional.cross_entropy(model(flat.view(1, 1, 2, 2)), y, reduction="sum")

    exact = torch.autograd.functional.hessian(loss, x.flatten()).diagonal()
    assert torch.allclose(estimate, exact, atol=0.08 * float(exact.abs().max()) + 1e-4)
    assert t.counter.backward["attack"] == 1 + 2 * 4000


@pytest.mark.parametrize("kwargs,fwd,bwd", [
    (dict(max_iter=10), 2, 2),
    (dict(max_iter=3), 2, 2),
    (dict(max_iter=4, hessian="diagonal"), 2, 2 + 2),
    (dict(max_iter=4, hessian="diagonal", hutchinson_samples=3), 2, 2 + 6),
    (dict(max_iter=7, refresh_every=3), 2 + 2, 2 + 2),  # refreshes at t = 3 and 6
    (dict(max_iter=4, refresh_every=1), 5, 5),  # refresh every step: PGD-4
])
def test_exact_passes(data, kwargs, fwd, bwd):
    h = AdversarialTrainerGAAT(make_classifier(), eps=EPS, verbose=False, **kwargs).fit(*data, nb_epochs=1,
                                                                                        batch_size=16)
    assert h["forward_passes"] == [3 * fwd] and h["backward_passes"] == [3 * bwd]


def test_refresh_every_step_equals_pgd(data):
    from art_accel.attacks import OnDevicePGD

    t = AdversarialTrainerGAAT(make_classifier(), eps=EPS, eps_step=EPS / 4, max_iter=4, refresh_every=1,
                               num_random_init=0, verbose=False)
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    ours = t.attack.perturb(x, y).x_adv
    pgd = OnDevicePGD(t.network, EPS, EPS / 4, 4).perturb(x, y).x_adv
    assert torch.allclose(ours, pgd, atol=1e-6)


def test_delayed_gaat_and_residual(data):
    t = AdversarialTrainerGAAT(make_classifier(), eps=EPS, delay_epochs=2, track_residual=True, verbose=False)
    h = t.fit(*data, nb_epochs=3, batch_size=16)
    assert h["natural"] == [True, True, False] and h["k"] == [0, 0, 10]
    assert h["backward_passes"] == [3, 3, 6]
    assert h["residual"][:2] == [None, None] and h["residual"][2] >= 0.0 and math.isfinite(h["residual"][2])
    assert t.counter.forward["analysis"] == 2  # residual forwards are not training cost


@pytest.mark.parametrize("kwargs,match", [
    (dict(hessian="full"), "hessian"),
    (dict(refresh_every=0), "refresh_every"),
    (dict(delay_epochs=-1), "delay_epochs"),
    (dict(hutchinson_samples=0), "hutchinson_samples"),
    (dict(max_iter=0), "max_iter"),
    (dict(num_random_init=2), "num_random_init"),
    (dict(eps_step=0.0), "eps_step"),
])
def test_bad_parameters_rejected(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        AdversarialTrainerGAAT(make_classifier(), eps=EPS, verbose=False, **kwargs)
