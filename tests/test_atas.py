"""ATAS and ATTA: exact passes, the step formula, per-sample state reaching the right samples, alignment."""
import pytest
import torch
import torch.nn.functional as F

from art_accel import AdversarialTrainerATAS, AdversarialTrainerATTA
from art_accel.attacks import project
from art_accel.augmentation import RandomCropFlip
from art_accel.parts import AdaptiveStep

from conftest import make_classifier

EPS = 0.1


class Spy(AdversarialTrainerATAS):
    """Snapshots the per-sample state at the start of every epoch."""

    def _on_epoch_start(self, epoch):
        out = super()._on_epoch_start(epoch)
        self.snapshots = getattr(self, "snapshots", {})
        self.snapshots[epoch] = self.state.state_dict()
        return out


def test_two_passes_per_batch_like_fgsm(data):
    h = AdversarialTrainerATAS(make_classifier(), eps=EPS, warmup_epochs=1, verbose=False).fit(
        *data, nb_epochs=3, batch_size=16)
    assert h["forward_passes"] == [6, 6, 6] and h["backward_passes"] == [6, 6, 6]


def test_step_formula_and_moving_average():
    t = AdversarialTrainerATAS(make_classifier(), eps=EPS, beta=0.5, c=2.0, max_step=0.2, min_step=0.05,
                               step_cap=0.15, warmup_epochs=0, verbose=False)
    t._on_fit_start(4)
    t._on_epoch_start(1)
    index = torch.tensor([3, 1])
    grad = torch.zeros(2, 1, 8, 8)
    grad[0, 0, 0, :4] = 1.0  # ||g||^2 = 4
    grad[1, 0, 0, 0] = 30.0  # ||g||^2 = 900
    step = t.part(AdaptiveStep).step_size(grad, index)
    v = torch.tensor([0.5 * 4, 0.5 * 900])
    assert torch.allclose(t.state["v"][index], v) and t.state["v"][[0, 2]].eq(0).all()
    gamma = 0.2 * 2.0
    expected = (gamma / (2.0 + v.sqrt())).clamp(0.05, 0.15)
    assert torch.allclose(step, expected)
    assert step[0] == pytest.approx(gamma / (2 + 2 ** 0.5))  # inside the clamp
    assert step[1] == pytest.approx(0.05)  # large gradient norm -> clamped at min_step
    step2 = t.part(AdaptiveStep).step_size(grad, index)  # second visit: v = 0.5 v + 0.5 ||g||^2
    assert torch.allclose(t.state["v"][index], 0.5 * v + 0.5 * torch.tensor([4.0, 900.0]))
    assert step2[0] < step[0]


def test_per_sample_state_reaches_the_right_samples(data):
    x, y = data
    clf = make_classifier(lr=0.0)  # frozen model: the second epoch can be recomputed exactly
    t = Spy(clf, eps=EPS, warmup_epochs=0, verbose=False)
    t.fit(x, y, nb_epochs=2, batch_size=16)
    v0, d1 = t.snapshots[1]["v"], t.snapshots[1]["delta"]
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    x_init = project(xt + d1, xt, EPS, (0.0, 1.0)).requires_grad_(True)
    clf.model.eval()
    (g,) = torch.autograd.grad(F.cross_entropy(clf.model(x_init), yt, reduction="sum"), [x_init])
    v1 = 0.5 * v0 + 0.5 * g.flatten(1).pow(2).sum(1)
    assert torch.allclose(t.state["v"], v1, rtol=1e-5)
    step = t.part(AdaptiveStep).alpha(v1).view(-1, 1, 1, 1)
    d2 = project(x_init.detach() + step * g.sign(), xt, EPS, (0.0, 1.0)) - xt
    assert torch.allclose(t.state["delta"], d2, atol=1e-6)
    assert (v0 > 0).all() and not torch.allclose(v0, v1)


def test_warmup_keeps_constant_step_and_v(data):
    t = AdversarialTrainerATAS(make_classifier(), eps=EPS, warmup_epochs=2, verbose=False)
    h = t.fit(*data, nb_epochs=3, batch_size=16)
    assert h["warmup"] == [True, True, False]
    assert h["step_mean"][:2] == [pytest.approx(EPS)] * 2 and h["step_min"][0] == pytest.approx(EPS)
    assert h["step_mean"][2] != pytest.approx(EPS) and "grad_norm_d10" in h[2] and "grad_norm_d10" not in h[0]
    assert h[2]["grad_norm_d1"] <= h[2]["grad_norm_d5"] <= h[2]["grad_norm_d10"]
    assert h[2]["step_d1"] >= h[2]["step_d10"]


def test_reset_every_redraws_the_stored_perturbation(data):
    t = Spy(make_classifier(), eps=EPS, reset_every=2, verbose=False)
    t.fit(*data, nb_epochs=3, batch_size=16)
    # epoch 2 starts with a fresh uniform draw: not the delta stored by epoch 1
    assert not torch.allclose(t.snapshots[2]["delta"], t.state["delta"])
    assert t.snapshots[2]["delta"].abs().max() <= EPS


def test_atta_uses_a_fixed_step(data):
    h = AdversarialTrainerATTA(make_classifier(), eps=EPS, verbose=False).fit(*data, nb_epochs=2, batch_size=16)
    assert h["step_min"] == h["step_max"] == [pytest.approx(EPS / 2)] * 2
    assert h["backward_passes"] == [6, 6]


def test_random_init_variant_keeps_no_delta(data):
    t = AdversarialTrainerATAS(make_classifier(), eps=EPS, init="random", warmup_epochs=0, verbose=False)
    t.fit(*data, nb_epochs=1, batch_size=16)
    assert (t.state["v"] > 0).all()


def test_crop_flip_round_trip_is_exact():
    aug = RandomCropFlip(padding=2)
    torch.manual_seed(0)
    stored = torch.randn(6, 3, 12, 12)  # padded frame of 8x8 images
    params = aug.sample(6, stored.device)
    window = aug.crop(stored, params, 8, 8)
    assert torch.equal(aug.write_back(stored, window, params), stored)
    new = torch.randn(6, 3, 8, 8)
    written = aug.write_back(stored, new, params)
    assert torch.equal(aug.crop(written, params, 8, 8), new)
    assert (written != stored).sum() == new.numel()  # only the window changed
    # the augmented image equals cropping the padded image (flips included)
    x = torch.rand(6, 3, 8, 8)
    flipped = params.flip.nonzero().flatten()
    if len(flipped):
        i = int(flipped[0])
        ref = aug.pad(x)[i, :, params.top[i] : params.top[i] + 8, params.left[i] : params.left[i] + 8].flip(-1)
        assert torch.equal(aug.apply(x, params)[i], ref)


def test_augmented_training_writes_back_in_the_padded_frame(data):
    t = Spy(make_classifier(), eps=EPS, augmentation=RandomCropFlip(2), verbose=False)
    t.fit(*data, nb_epochs=2, batch_size=16)
    assert t.state["delta"].shape == (40, 1, 12, 12)
    changed = (t.state["delta"] != t.snapshots[1]["delta"]).flatten(1).sum(1)
    assert (changed > 0).all() and (changed <= 64).all()  # each sample's 8x8 window, nothing else


def test_low_resolution_store_is_updated(data):
    t = Spy(make_classifier(), eps=EPS, delta_resolution=(4, 4), verbose=False)
    h = t.fit(*data, nb_epochs=2, batch_size=16)
    assert t.state["delta"].shape == (40, 1, 4, 4)
    assert not torch.allclose(t.state["delta"], t.snapshots[1]["delta"])
    full = AdversarialTrainerATAS(make_classifier(), eps=EPS, verbose=False).fit(*data, nb_epochs=1, batch_size=16)
    assert h[0]["state_megabytes"] < full[0]["state_megabytes"]


def test_dataloader_without_index_rejected(data):
    from torch.utils.data import DataLoader, TensorDataset

    x, y = data
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=16)
    with pytest.raises(ValueError, match="dataset positions"):
        AdversarialTrainerATAS(make_classifier(), eps=EPS, verbose=False).fit_loader(loader, nb_epochs=1)
    idx_loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y), torch.arange(40)), batch_size=16)
    h = AdversarialTrainerATAS(make_classifier(), eps=EPS, verbose=False).fit_loader(idx_loader, nb_epochs=1)
    assert h["backward_passes"] == [6]


@pytest.mark.parametrize("kwargs,match", [
    (dict(beta=1.0), "beta must be < 1"),
    (dict(beta=-0.1), "beta"),
    (dict(c=0.0), "c must be"),
    (dict(min_step=0.2, step_cap=0.1), "min_step"),
    (dict(init="zero"), "init"),
    (dict(warmup_epochs=-1), "warmup_epochs"),
    (dict(reset_every=0), "reset_every"),
    (dict(delta_resolution=(4,)), "delta_resolution"),
    (dict(delta_resolution=(4, 4), augmentation=RandomCropFlip(2)), "augmentation"),
    (dict(eps=0.0), "eps"),
])
def test_bad_parameters_rejected(kwargs, match):
    args = dict(eps=EPS)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        AdversarialTrainerATAS(make_classifier(), verbose=False, **args)


def test_augmentation_type_checked():
    with pytest.raises(TypeError, match="augmentation"):
        AdversarialTrainerATAS(make_classifier(), eps=EPS, augmentation="crop")
    assert RandomCropFlip(0).pad(torch.zeros(1, 1, 2, 2)).shape == (1, 1, 2, 2)
