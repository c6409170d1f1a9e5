"""
art-accel: fast adversarial training methods for the Adversarial Robustness Toolbox (ART).

Every trainer is an ``art.defences.trainer.Trainer`` wrapping a ``PyTorchClassifier``; ``fit`` returns a
:class:`TrainingHistory` with exact forward/backward pass counts per epoch.
"""
from art_accel.attacks import AttackResult, OnDevicePGD
from art_accel.history import TrainingHistory
from art_accel.trainers import (
    AdversarialTrainerAmata,
    AdversarialTrainerATAS,
    AdversarialTrainerATTA,
    AdversarialTrainerAWP,
    AdversarialTrainerBase,
    AdversarialTrainerDEAT,
    AdversarialTrainerECAS,
    AdversarialTrainerFGSM,
    AdversarialTrainerFree,
    AdversarialTrainerGAAT,
    AdversarialTrainerMART,
    AdversarialTrainerMPlus,
    AdversarialTrainerPGD,
    AdversarialTrainerTRADES,
)

__version__ = "0.2.0.dev0"


def calibrate_entropy_thresholds(*args, **kwargs):
    """See :func:`art_accel.trainers.ecas.calibrate_entropy_thresholds`."""
    from art_accel.trainers.ecas import calibrate_entropy_thresholds as _calibrate

    return _calibrate(*args, **kwargs)


def evaluate_robustness(*args, **kwargs):
    """See :func:`art_accel.evaluation.evaluate_robustness` (imported lazily: it loads ART's attacks)."""
    from art_accel.evaluation import evaluate_robustness as _evaluate

    return _evaluate(*args, **kwargs)


__all__ = [
    "AdversarialTrainerAmata",
    "AdversarialTrainerATAS",
    "AdversarialTrainerATTA",
    "AdversarialTrainerAWP",
    "AdversarialTrainerBase",
    "AdversarialTrainerDEAT",
    "AdversarialTrainerECAS",
    "AdversarialTrainerFGSM",
    "AdversarialTrainerFree",
    "AdversarialTrainerGAAT",
    "AdversarialTrainerMART",
    "AdversarialTrainerMPlus",
    "AdversarialTrainerPGD",
    "AdversarialTrainerTRADES",
    "AttackResult",
    "OnDevicePGD",
    "TrainingHistory",
    "calibrate_entropy_thresholds",
    "evaluate_robustness",
    "__version__",
]
