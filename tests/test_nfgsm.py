"""N-FGSM: the authors' formula on a batch, its defaults, no projection onto the ball, its place in the registry."""
import pytest
import torch
import torch.nn.functional as F

from art_accel import AdversarialTrainerNFGSM
from art_accel.contract import Batch
from art_accel.parts import NoiseStart
from art_accel.registry import get_method

from conftest import make_classifier

EPS = 0.1


def test_defaults_are_the_papers():
    t = AdversarialTrainerNFGSM(make_classifier(), eps=EPS, verbose=False)
    assert t.eps_step == EPS and t.part(NoiseStart).noise_factor == 2.0 and t.max_iter == 1
    assert get_method("nfgsm") is AdversarialTrainerNFGSM
    assert t.config()["noise_factor"] == 2.0


def test_attack_is_the_authors_formula_without_projection(data):
    clf = make_classifier()
    t = AdversarialTrainerNFGSM(clf, eps=EPS, eps_step=0.07, noise_factor=1.5, verbose=False)
    x = torch.as_tensor(data[0][:16]).clamp(0.2, 0.8)  # inside [0, 1] by more than k eps + alpha
    y = torch.as_tensor(data[1][:16])
    torch.manual_seed(3)
    x_adv = t.attack_batch(Batch(x, y)).x_adv
    torch.manual_seed(3)
    eta = (torch.rand_like(x) * 2 - 1) * 1.5 * EPS  # the same draw
    start = (x + eta).clamp(0, 1).detach().requires_grad_(True)
    clf.model.eval()
    grad, = torch.autograd.grad(F.cross_entropy(clf.model(start), y), start)
    expected = (start + 0.07 * grad.sign()).clamp(0, 1)
    assert torch.allclose(x_adv, expected, atol=1e-6)
    dist = (x_adv - x).abs().amax()
    assert EPS < dist <= 1.5 * EPS + 0.07 + 1e-6  # outside the eps-ball: no projection onto it


def test_result_is_clipped_to_the_input_range(data):
    t = AdversarialTrainerNFGSM(make_classifier(), eps=0.3, verbose=False)
    x = torch.as_tensor(data[0][:16])
    x_adv = t.attack_batch(Batch(x, torch.as_tensor(data[1][:16]))).x_adv
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0 and (x_adv - x).abs().amax() > 0.3


def test_trains_with_two_passes_per_batch_and_checks_its_argument(data):
    h = AdversarialTrainerNFGSM(make_classifier(), eps=EPS, verbose=False).fit(*data, nb_epochs=2, batch_size=16)
    assert h["forward_passes"] == [3 * 2] * 2 and h["backward_passes"] == [3 * 2] * 2
    assert h["eps"] == [EPS, EPS] and h["k"] == [1, 1]
    with pytest.raises(ValueError, match="noise_factor"):
        NoiseStart(noise_factor=-1)
