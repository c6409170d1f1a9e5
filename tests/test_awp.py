"""AWP in our loop: the weight perturbation is applied for the update only and removed exactly."""
import pytest
import torch

from art_accel import AdversarialTrainerAWP

from conftest import make_classifier


def _weights(clf):
    return [p.detach().clone() for p in clf.model.parameters()]


def test_perturbation_is_removed_after_each_update(data):
    clf = make_classifier(lr=0.0)
    before = _weights(clf)
    h = AdversarialTrainerAWP(clf, eps=0.1, max_iter=2, gamma=0.5, verbose=False).fit(*data, nb_epochs=1,
                                                                                      batch_size=16)
    assert h["awp"] == [True]
    for a, b in zip(before, _weights(clf)):
        assert torch.allclose(a, b, atol=1e-6)


def test_update_sees_perturbed_weights(data):
    """With gamma > 0 the trained weights differ from plain PGD-AT on the same seed."""
    out = []
    for gamma in (0.0, 0.05):
        clf = make_classifier(lr=0.1)
        torch.manual_seed(0)
        AdversarialTrainerAWP(clf, eps=0.1, max_iter=1, gamma=gamma, verbose=False).fit(*data, nb_epochs=1,
                                                                                       batch_size=40)
        out.append(torch.cat([p.detach().flatten() for p in clf.model.parameters()]))
    assert not torch.allclose(out[0], out[1])


def test_warmup_and_bad_parameters(data):
    h = AdversarialTrainerAWP(make_classifier(), eps=0.1, max_iter=1, warmup_epochs=1, verbose=False).fit(
        *data, nb_epochs=2, batch_size=40)
    assert h["awp"] == [False, True] and h["backward_passes"] == [2, 3]
    with pytest.raises(ValueError, match="gamma"):
        AdversarialTrainerAWP(make_classifier(), eps=0.1, gamma=-1.0)
    with pytest.raises(ValueError, match="proxy_lr"):
        AdversarialTrainerAWP(make_classifier(), eps=0.1, proxy_lr=0.0)
