"""Trainers: the shared loop (:mod:`.base`), the objectives (:mod:`.objectives`) and one module per method;
the list of methods is :mod:`art_accel.registry`."""
