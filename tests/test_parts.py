"""
Methods as parts: every public trainer is a real ART ``Trainer`` with its real signature, ``base=`` selects
a part, and the compositions no paper ran cost exactly what their parts cost.
"""
import inspect

import pytest
from art.defences.trainer import Trainer

import art_accel
from art_accel.parts import (
    MART,
    PGDAT,
    TRADES,
    AdaptiveStep,
    AmataAnneal,
    EntropyEps,
    FreeReplay,
    MPlusSteps,
    WeightPerturbation,
)

from conftest import make_classifier

H = dict(h_low=0.5, h_high=1.2)  # 4 classes: the authors' thresholds are for 10 and 100
PUBLIC = [getattr(art_accel, name) for name in art_accel.__all__ if name.startswith("AdversarialTrainer")]
#: Every public class with every value its ``base=`` takes, and the part that base must be.
BASES = [
    ("AdversarialTrainerMPlus", {"base": "pgd"}, PGDAT),
    ("AdversarialTrainerMPlus", {"base": "free"}, FreeReplay),
    ("AdversarialTrainerMPlus", {"base": "trades"}, TRADES),
    ("AdversarialTrainerMPlus", {"base": "mart"}, MART),
    ("AdversarialTrainerAmata", {"base": "pgd"}, PGDAT),
    ("AdversarialTrainerAmata", {"base": "free"}, FreeReplay),
    ("AdversarialTrainerAmata", {"base": "fgsm"}, PGDAT),
    ("AdversarialTrainerAmata", {"base": "trades"}, TRADES),
    ("AdversarialTrainerAmata", {"base": "mart"}, MART),
    ("AdversarialTrainerECAS", dict(H, base="pgd"), PGDAT),
    ("AdversarialTrainerECAS", dict(H, base="trades"), TRADES),
    ("AdversarialTrainerECAS", dict(H, base="awp"), WeightPerturbation),
    ("AdversarialTrainerAWP", {"base": "pgd"}, WeightPerturbation),
    ("AdversarialTrainerAWP", {"base": "trades"}, WeightPerturbation),
    ("AdversarialTrainerAWP", {"base": "mart"}, WeightPerturbation),
]


@pytest.mark.parametrize("cls", PUBLIC, ids=[c.__name__ for c in PUBLIC])
def test_every_public_trainer_is_an_art_trainer_with_its_real_signature(cls):
    assert issubclass(cls, Trainer) and issubclass(cls, art_accel.AdversarialTrainerBase)
    params = inspect.signature(cls).parameters
    assert not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params.values())
    assert list(params)[:2] == ["classifier", "eps"]
    for common in ("nb_epochs", "batch_size", "verbose", "schedule", "budget"):
        assert common in params
    assert "__new__" not in vars(cls)
    # no method class borrows another method's behaviour by inheritance
    assert cls.__mro__[1] in (art_accel.AdversarialTrainerBase, Trainer)


@pytest.mark.parametrize("name,kwargs,part", BASES, ids=[f"{n[18:]}-{k['base']}" for n, k, _ in BASES])
def test_base_selects_a_part_not_a_class(name, kwargs, part):
    cls = getattr(art_accel, name)
    t = cls(make_classifier(), eps=0.1, verbose=False, **kwargs)
    assert type(t) is cls and isinstance(t, cls)
    assert isinstance(t.objective, part)
    if part is WeightPerturbation:
        assert isinstance(t.objective.inner, {"pgd": PGDAT, "awp": PGDAT, "trades": TRADES,
                                              "mart": MART}[kwargs["base"]])


def test_unknown_keyword_names_the_argument():
    with pytest.raises(TypeError, match=r"\['foo'\]"):
        art_accel.AdversarialTrainerPGD(make_classifier(), eps=0.1, foo=1)
    with pytest.raises(TypeError, match="max_step"):  # says what ATAS uses instead
        art_accel.AdversarialTrainerATAS(make_classifier(), eps=0.1, eps_step=0.1)


# ---------------------------------------------------------------- compositions: exact pass counts
# data: 40 samples, batch 16 -> 3 batches per epoch


def _fit(trainer, data, epochs):
    return trainer.fit(*data, nb_epochs=epochs, batch_size=16)


def test_ecas_eps_with_atas_adaptive_step(data):
    t = art_accel.AdversarialTrainerATAS(make_classifier(), eps=0.08, warmup_epochs=1,
                                         budget=EntropyEps(eps_space=[0.02, 0.04, 0.06, 0.08], **H), verbose=False)
    assert t.method_name == "atas+ecas" and not t.part(EntropyEps).sets_step  # ATAS keeps its step
    h = _fit(t, data, 3)
    # ATAS' 2 forwards and 2 backwards plus ECAS' clean forward for the entropy
    assert h["forward_passes"] == [3 * 3] * 3 and h["backward_passes"] == [3 * 2] * 3
    assert h["eps"] == [0.02, 0.04, 0.06] and "eps_step" not in h.keys()
    assert h["step_mean"][1] != pytest.approx(0.08)  # adaptive after the warm-up epoch
    delta = t.state["delta"]
    assert (delta.abs().flatten(1).max(1).values <= 0.08 + 1e-6).all()  # per-sample eps from the space


def test_amata_anneal_on_ecas_eps(data):
    t = art_accel.AdversarialTrainerECAS(make_classifier(), eps_space=[0.02, 0.04, 0.06], max_iter=10,
                                         schedule=AmataAnneal(2, 6), verbose=False, **H)
    h = _fit(t, data, 3)
    assert h["k"] == [2, 4, 6]
    # ECAS' step rule step_factor * eps_epoch / K_t with Amata's K_t
    assert h["eps_step"] == pytest.approx([2 * 0.02 / 2, 2 * 0.04 / 4, 2 * 0.06 / 6])
    assert h["forward_passes"] == [3 * (k + 2) for k in (2, 4, 6)]
    assert h["backward_passes"] == [3 * (k + 1) for k in (2, 4, 6)]


def test_mplus_criterion_on_ecas(data):
    t = art_accel.AdversarialTrainerECAS(make_classifier(), eps=0.08, max_iter=10, schedule=MPlusSteps(max_k=3),
                                         verbose=False, **H)
    h = _fit(t, data, 4)
    assert h["k"][:2] == [0, 1] and all(k <= 3 for k in h["k"]) and "grad_magnitude" in h.keys()
    assert h["forward_passes"] == [3 * (k + 2) for k in h["k"]]
    assert h["backward_passes"] == [3 * (k + 1) for k in h["k"]]


def test_mplus_criterion_on_trades_with_awp(data):
    t = art_accel.AdversarialTrainerAWP(make_classifier(), eps=0.1, base="trades", schedule=MPlusSteps(),
                                        verbose=False)
    assert t.method_name == "awp-trades+mplus"
    h = _fit(t, data, 4)
    assert h["k"][:2] == [0, 1] and h["awp"] == [True] * 4
    # TRADES: k + 3 forwards, k + 2 backwards; AWP's proxy: TRADES' two forwards and their backward
    assert h["forward_passes"] == [3 * (k + 5) for k in h["k"]]
    assert h["backward_passes"] == [3 * (k + 4) for k in h["k"]]


@pytest.mark.parametrize("base,fwd,bwd", [("trades", 3, 2), ("mart", 2, 2)])
def test_amata_on_trades_and_mart(data, base, fwd, bwd):
    h = _fit(art_accel.AdversarialTrainerAmata(make_classifier(), eps=0.1, base=base, verbose=False), data, 3)
    assert h["k"] == [2, 6, 10]
    assert h["eps_step"] == pytest.approx([0.25 / k for k in (2, 6, 10)])  # tau = 2.5 eps
    assert h["forward_passes"] == [3 * (k + fwd) for k in (2, 6, 10)]
    assert h["backward_passes"] == [3 * (k + bwd) for k in (2, 6, 10)]


@pytest.mark.parametrize("make,why", [
    (lambda: art_accel.AdversarialTrainerATAS(make_classifier(), eps=0.1, schedule=MPlusSteps()), "single-step"),
    (lambda: art_accel.AdversarialTrainerAmata(make_classifier(), eps=0.1, schedule=MPlusSteps()),
     "one k schedule"),
    (lambda: art_accel.AdversarialTrainerDEAT(make_classifier(), eps=0.1, schedule=AmataAnneal()), "one k schedule"),
    (lambda: art_accel.AdversarialTrainerFree(make_classifier(), eps=0.1, budget=EntropyEps(**H)), "fuses"),
    (lambda: art_accel.AdversarialTrainerAWP(make_classifier(), eps=0.1, base="free"), "separate adversarial"),
    (lambda: art_accel.AdversarialTrainerPGD(make_classifier(), eps=0.1, budget=MPlusSteps()), "schedule="),
    (lambda: art_accel.AdversarialTrainerPGD(make_classifier(), eps=0.1,
                                             budget=AdaptiveStep(0.5, 1.0, 0.2, 0.05, 0.15, 0, 10)), "single"),
])
def test_combinations_that_make_no_sense_say_why(make, why):
    with pytest.raises(ValueError, match=why):
        make()


def test_a_part_belongs_to_one_trainer():
    steps = MPlusSteps()
    art_accel.AdversarialTrainerPGD(make_classifier(), eps=0.1, schedule=steps, verbose=False)
    with pytest.raises(ValueError, match="another trainer"):
        art_accel.AdversarialTrainerPGD(make_classifier(), eps=0.1, schedule=steps, verbose=False)


def test_eps_ramp_reaches_the_full_budget_and_validation_uses_it(data):
    from art_accel.parts import EpsRamp

    t = art_accel.AdversarialTrainerPGD(make_classifier(), eps=0.1, max_iter=1, schedule=EpsRamp(4), verbose=False)
    h = t.fit(*data, nb_epochs=6, batch_size=16, validation_data=(data[0][:8], data[1][:8]), validation_max_iter=1)
    assert h["eps"] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])
    assert t.target_eps == 0.1 and t.method_name == "pgd+eps_ramp"
    deltas = []
    original = t.attack.perturb

    def spy(x, y, **kw):
        out = original(x, y, **kw)
        deltas.append(float((out.x_adv - x).abs().max()))
        return out

    t.reset()
    t.attack.perturb = spy
    t.fit(*data, nb_epochs=1, batch_size=40)
    assert max(deltas) <= 0.025 + 1e-6  # epoch 0 attacks within the ramped budget
    with pytest.raises(ValueError, match="ECAS"):
        art_accel.AdversarialTrainerECAS(make_classifier(), eps=0.1, h_low=0.5, h_high=1.2, schedule=EpsRamp(2))
