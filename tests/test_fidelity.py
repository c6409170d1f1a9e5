"""
The deviations an audit found against the papers and the authors' code, each fixed (or made an option) and
pinned here by an exact value, a schedule epoch by epoch or a small reference computation.
"""
import pytest
import torch
from torch import nn

from art_accel import (
    AdversarialTrainerAmata,
    AdversarialTrainerATAS,
    AdversarialTrainerAWP,
    AdversarialTrainerDEAT,
    AdversarialTrainerECAS,
    AdversarialTrainerGAAT,
    AdversarialTrainerMPlus,
)
from art_accel.parts import AdaptiveStep, EntropyEps

from conftest import make_classifier

EPS = 0.1


# ---------------------------------------------------------------- M+ (finding 1 and 8)

@pytest.mark.parametrize("base", ["pgd", "trades", "mart"])
def test_mplus_step_is_eps_over_k_floored_at_eps_over_4(data, base):
    """The authors' M+PGD: alpha = eps / k, floored at 2/255 at 8/255 (eps / 4), so k steps reach the edge."""
    t = AdversarialTrainerMPlus(make_classifier(), eps=EPS, base=base, max_k=6, gamma=0.5, verbose=False)
    h = t.fit(*data, nb_epochs=7, batch_size=16)  # gamma < 1: the criterion fires after every epoch from 2
    assert h["k"] == [0, 1, 1, 2, 3, 4, 5]
    assert h["eps_step"][1:] == pytest.approx([EPS, EPS, EPS / 2, EPS / 3, EPS / 4, EPS / 4])
    assert all(k * s >= EPS - 1e-12 for k, s in zip(h["k"][1:], h["eps_step"][1:]))


def test_mplus_fixed_step_rule_keeps_the_old_behaviour(data):
    t = AdversarialTrainerMPlus(make_classifier(), eps=EPS, step_rule="fixed", gamma=0.5, verbose=False)
    h = t.fit(*data, nb_epochs=4, batch_size=16)
    assert h["k"] == [0, 1, 1, 2] and h["eps_step"] == [pytest.approx(EPS / 4)] * 4


def test_mplus_step_floor_is_the_given_eps_step(data):
    t = AdversarialTrainerMPlus(make_classifier(), eps=EPS, eps_step=EPS / 2, gamma=0.5, verbose=False)
    h = t.fit(*data, nb_epochs=5, batch_size=16)
    assert h["k"] == [0, 1, 1, 2, 3]
    assert h["eps_step"][1:] == pytest.approx([EPS, EPS, EPS / 2, EPS / 2])


def test_deat_every_d_caps_at_five_replays_like_the_authors(data):
    h = AdversarialTrainerDEAT(make_classifier(), eps=EPS, criterion="every_d", d=1, verbose=False).fit(
        *data, nb_epochs=7, batch_size=40)
    assert h["k"] == [0, 1, 2, 3, 4, 4, 4] and h["replays"][-1] == 5


# ---------------------------------------------------------------- GAAT (findings 2 and 3)

def _relu_classifier():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 8),
                          nn.ReLU(), nn.Linear(8, 3))
    return make_classifier(model=model, input_shape=(1, 4, 4), nb_classes=3), model


def test_input_hessian_of_cross_entropy_is_psd_for_a_relu_maxpool_net():
    clf, model = _relu_classifier()
    model.eval()
    torch.manual_seed(1)
    for i in range(4):
        x, y = torch.rand(16), torch.tensor([i % 3])
        hess = torch.autograd.functional.hessian(
            lambda flat: nn.functional.cross_entropy(model(flat.view(1, 1, 4, 4)), y), x)
        assert torch.linalg.eigvalsh(hess).min() >= -1e-6
        assert hess.diagonal().min() >= -1e-7


def test_exact_diagonal_matches_autograd_and_collapses_to_gauss_newton():
    clf, model = _relu_classifier()
    torch.manual_seed(2)
    x, y = torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1])
    exact = AdversarialTrainerGAAT(clf, eps=EPS, hessian="exact_diagonal", num_random_init=0, verbose=False)
    _, curv = exact.attack.expansion(x, y)
    diag = curv(torch.ones_like(x))
    assert exact.counter.backward["attack"] == 1 + 2 * 16
    model.eval()
    for i in range(5):
        hess = torch.autograd.functional.hessian(
            lambda flat: nn.functional.cross_entropy(model(flat.view(1, 1, 4, 4)), y[i:i + 1], reduction="sum"),
            x[i].flatten())
        assert torch.allclose(diag[i].flatten(), hess.diagonal(), atol=1e-6)
    gauss_newton = AdversarialTrainerGAAT(clf, eps=EPS, num_random_init=0, verbose=False)
    assert torch.equal(exact.attack.perturb(x, y).x_adv, gauss_newton.attack.perturb(x, y).x_adv)


def test_exact_diagonal_is_refused_for_large_inputs():
    with pytest.raises(ValueError, match="exact_diagonal"):
        AdversarialTrainerGAAT(make_classifier(input_shape=(3, 64, 64)), eps=EPS, hessian="exact_diagonal")


@pytest.mark.parametrize("max_iter", [10, 4])
def test_gaat_default_total_step_is_the_papers_1_25_eps(max_iter):
    t = AdversarialTrainerGAAT(make_classifier(), eps=8 / 255, max_iter=max_iter, verbose=False)
    assert t.eps_step == pytest.approx(1.25 * (8 / 255) / max_iter)
    if max_iter == 10:
        assert t.eps_step == pytest.approx(1 / 255)  # the paper's {10, 1/255, 8/255}


# ---------------------------------------------------------------- Amata (finding 4)

@pytest.mark.parametrize("base", ["pgd", "mart"])
def test_amata_starts_pgd_at_the_clean_input(data, base):
    t = AdversarialTrainerAmata(make_classifier(), eps=EPS, base=base, verbose=False)
    assert t.attack.num_random_init == 0
    x, y = torch.from_numpy(data[0][:8]), torch.from_numpy(data[1][:8])
    first = t.attack.perturb(x, y, max_iter=0).x_adv
    assert torch.equal(first, x)  # no random start: zero steps leave the clean input


# ---------------------------------------------------------------- AWP and ECAS (findings 5 and 6)

@pytest.mark.parametrize("base,gamma", [("pgd", 0.01), ("trades", 5e-3), ("mart", 0.01)])
def test_awp_gamma_defaults_are_the_authors_per_base(base, gamma):
    t = AdversarialTrainerAWP(make_classifier(), eps=EPS, base=base, verbose=False)
    assert t.objective.gamma == gamma and t.attack_mode == "eval"


def test_ecas_awp_gamma_is_the_ecas_authors():
    t = AdversarialTrainerECAS(make_classifier(), eps=EPS, base="awp", h_low=0.5, h_high=1.2, verbose=False)
    assert t.objective.gamma == 0.01


def test_ecas_trades_rejects_label_smoothing():
    with pytest.raises(ValueError, match="label_smoothing"):
        AdversarialTrainerECAS(make_classifier(), base="trades", label_smoothing=0.3, h_low=0.5, h_high=1.2)


@pytest.mark.parametrize("base,drawn", [("trades", {8, 9}), ("pgd", {10, 11, 12}), ("awp", {13, 14, 15})])
def test_ecas_low_entropy_draws_follow_the_authors(base, drawn):
    t = AdversarialTrainerECAS(make_classifier(), eps=8 / 255, base=base, h_low=0.5, h_high=1.2,
                               per_sample_draw=True, verbose=False)
    part = t.part(EntropyEps)
    torch.manual_seed(0)
    index = part.sample_indices(torch.zeros(500))  # every sample below h_low
    assert {round(part.eps_space[i] * 255) for i in index.tolist()} == drawn


# ---------------------------------------------------------------- ATAS (finding 7)

@pytest.mark.parametrize("bounds,expected", [
    ("authors", (16 / 255, 4 / 255, 14 / 255)),
    ("scaled", (32 / 255, 8 / 255, 28 / 255)),
])
def test_atas_step_bounds_at_16_over_255(bounds, expected):
    t = AdversarialTrainerATAS(make_classifier(), eps=16 / 255, step_bounds=bounds, verbose=False)
    part = t.part(AdaptiveStep)
    assert (part.max_step, part.min_step, part.step_cap) == pytest.approx(expected)


def test_carried_perturbations_are_redrawn_at_epochs_0_10_20(data, monkeypatch):
    """Documented deviation: we redraw at the start of 0-based epochs 0, 10, 20 (the authors before 9, 19)."""
    redrawn = []
    original = AdaptiveStep.on_epoch_start

    def spy(self, epoch, record):
        before = self.state["delta"].clone()
        original(self, epoch, record)
        redrawn.append(not torch.equal(before, self.state["delta"]))

    monkeypatch.setattr(AdaptiveStep, "on_epoch_start", spy)
    AdversarialTrainerATAS(make_classifier(), eps=EPS, warmup_epochs=0, verbose=False).fit(
        *data, nb_epochs=21, batch_size=40)
    assert [e for e, r in enumerate(redrawn) if r] == [0, 10, 20]
