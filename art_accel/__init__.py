"""
art-accel: fast adversarial training methods for the Adversarial Robustness Toolbox (ART).

Every trainer is an ``art.defences.trainer.Trainer`` wrapping a ``PyTorchClassifier``; ``fit`` returns a
:class:`TrainingHistory` with exact forward/backward pass counts per epoch. The trainer classes exported here
are those of :mod:`art_accel.registry` (one list of methods).
"""
from art_accel.attacks import AttackResult, OnDevicePGD
from art_accel.checkpoint import load_weights
from art_accel.entropy import calibrate_entropy_thresholds
from art_accel.history import TrainingHistory
from art_accel.registry import trainer_classes
from art_accel.trainers.base import AdversarialTrainerBase

__version__ = "0.2.0.dev0"

_TRAINERS = {cls.__name__: cls for cls in trainer_classes()}
globals().update(_TRAINERS)


def evaluate_robustness(*args, **kwargs):
    """See :func:`art_accel.evaluation.evaluate_robustness` (imported lazily: it loads ART's attacks)."""
    from art_accel.evaluation import evaluate_robustness as _evaluate

    return _evaluate(*args, **kwargs)


__all__ = ["AdversarialTrainerBase", "AttackResult", "OnDevicePGD", "TrainingHistory", "calibrate_entropy_thresholds",
           "evaluate_robustness", "load_weights", "__version__"]
__all__ += sorted(_TRAINERS)
