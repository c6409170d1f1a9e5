"""Trainers: the shared loop (:mod:`.base`) and one module per method."""
from art_accel.trainers.amata import AdversarialTrainerAmata
from art_accel.trainers.atas import AdversarialTrainerATAS
from art_accel.trainers.atta import AdversarialTrainerATTA
from art_accel.trainers.awp import AdversarialTrainerAWP
from art_accel.trainers.base import AdversarialTrainerBase, Batch, StepOutput
from art_accel.trainers.baselines import (
    AdversarialTrainerFGSM,
    AdversarialTrainerFree,
    AdversarialTrainerMART,
    AdversarialTrainerPGD,
    AdversarialTrainerTRADES,
)
from art_accel.trainers.ecas import AdversarialTrainerECAS
from art_accel.trainers.gaat import AdversarialTrainerGAAT
from art_accel.trainers.mplus import AdversarialTrainerDEAT, AdversarialTrainerMPlus

__all__ = [
    "AdversarialTrainerGAAT",
    "AdversarialTrainerAWP",
    "AdversarialTrainerECAS",
    "AdversarialTrainerAmata",
    "AdversarialTrainerDEAT",
    "AdversarialTrainerMPlus",
    "AdversarialTrainerATAS",
    "AdversarialTrainerATTA",
    "AdversarialTrainerBase",
    "AdversarialTrainerFGSM",
    "AdversarialTrainerFree",
    "AdversarialTrainerMART",
    "AdversarialTrainerPGD",
    "AdversarialTrainerTRADES",
    "Batch",
    "StepOutput",
]
