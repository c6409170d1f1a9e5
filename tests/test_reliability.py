"""Diverging training: stopped with an error naming the epoch, weights of that epoch's start, no bad file."""
import numpy as np
import pytest
import torch

from art_accel import AdversarialTrainerATAS, AdversarialTrainerPGD

from digests import _classifier, _data


@pytest.mark.parametrize("make", [
    lambda clf: AdversarialTrainerPGD(clf, eps=0.1, max_iter=2, verbose=False),
    lambda clf: AdversarialTrainerATAS(clf, eps=0.1, warmup_epochs=0, verbose=False),
])
def test_a_diverging_run_stops_naming_the_epoch_and_keeps_finite_weights(tmp_path, make):
    clf = _classifier()
    x, y = _data()
    path = str(tmp_path / "c.pt")
    trainer = make(clf)
    trainer.fit(x, y, nb_epochs=1, batch_size=16, checkpoint_path=path)  # epoch 0 is fine
    good = {k: v.clone() for k, v in clf.model.state_dict().items()}
    saved = open(path, "rb").read()
    for group in clf.optimizer.param_groups:
        group["lr"] = 1e30  # diverges within the next epoch
    with pytest.raises(FloatingPointError, match="epoch 1: the training loss is (nan|inf)"):
        trainer.fit(x, y, nb_epochs=1, batch_size=16, checkpoint_path=path)
    now = clf.model.state_dict()
    assert all(torch.equal(now[k], good[k]) for k in good)  # the weights of the failed epoch's start
    assert open(path, "rb").read() == saved  # the last good checkpoint was not overwritten


def test_non_finite_weights_are_never_written(tmp_path):
    clf = _classifier()
    trainer = AdversarialTrainerPGD(clf, eps=0.1, max_iter=1, verbose=False)
    trainer.fit(*_data(), nb_epochs=1, batch_size=16)
    with torch.no_grad():
        next(clf.model.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(FloatingPointError, match="not finite"):
        trainer.save_checkpoint(str(tmp_path / "c.pt"))
    assert not (tmp_path / "c.pt").exists()
    assert np.isnan(next(clf.model.parameters()).detach().numpy()).any()
