"""
The one training loop every art-accel method runs in.

A method is an assembly of parts (:mod:`art_accel.parts`): the loop calls their hooks at the start
of ``fit``, at each epoch's start and end, and per batch through the base. Data handling, labels, device
placement, pass accounting, progress bars, LR schedulers, validation and the history live here once.
"""
from __future__ import annotations

import copy
import functools
import inspect
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from art.defences.trainer.trainer import Trainer
from tqdm.auto import tqdm

from art_accel import distributed
from art_accel.accounting import PassCounter, Timer
from art_accel.attacks import AttackResult, OnDevicePGD
from art_accel.augmentation import CropFlipParams, RandomCropFlip
from art_accel.callbacks import EpochEnd
from art_accel.checkpoint import CheckpointError, plain, read_checkpoint, write_checkpoint
from art_accel.history import TrainingHistory
from art_accel.loader_checks import CheckedBatches
from art_accel.network import Network
from art_accel.parts import STAGES, Part
from art_accel.trainers.bases import PGDAT, BasePart
from art_accel.validation import (
    check_budget,
    check_choice,
    check_classifier,
    check_dataset,
    check_int,
    check_number,
    check_optimizer,
)


@dataclass
class Batch:
    """A training batch on the device: inputs, class indices, dataset positions (None if unknown)."""

    x: torch.Tensor
    y: torch.Tensor
    index: Optional[torch.Tensor] = None
    #: Crop/flip parameters when the trainer augments (``x`` is then the augmented batch).
    aug: Optional[CropFlipParams] = None


@dataclass
class StepOutput:
    """What one batch reports to the loop: mean training loss and the logits the update was trained on."""

    loss: torch.Tensor
    logits: torch.Tensor
    input_grad: Optional[torch.Tensor] = None


def _as_parts(value, name: str) -> List[Part]:
    """``schedule=`` / ``budget=`` as a list of parts of that stage."""
    if value is None:
        return []
    parts = [value] if isinstance(value, Part) else list(value) if isinstance(value, (list, tuple)) else None
    if parts is None or not all(isinstance(p, Part) for p in parts):
        raise TypeError(f"{name} must be a part (art_accel.parts) or a list of parts, got {value!r}")
    for p in parts:
        if p.stage != name:
            raise ValueError(f"{name}: {type(p).__name__} is a {p.stage} part; pass it as {p.stage}=")
    return parts


def _guard(value) -> List[Part]:
    """``co_guard=`` as a list of at most one guard part."""
    if value is None or value is False:
        return []
    if value is True:
        from art_accel.guard import OverfittingGuard

        return [OverfittingGuard()]
    if isinstance(value, Part) and value.stage == "guard":
        return [value]
    raise TypeError(f"co_guard must be True, False or an art_accel.guard.OverfittingGuard, got {value!r}")


class _EpochMeter:
    """Loss and accuracy accumulated in device tensors; read once per epoch."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.int64)
        self.count = 0

    def add(self, out: StepOutput, y: torch.Tensor) -> None:
        n = y.shape[0]
        self.loss += out.loss.detach() * n
        self.correct += (out.logits.detach().argmax(1) == y).sum()
        self.count += n

    def read(self) -> Dict[str, float]:
        n = max(self.count, 1)
        return {"loss": float(self.loss) / n, "accuracy": float(self.correct) / n}


class AdversarialTrainerBase(Trainer):
    """
    The loop every art-accel trainer runs in, driving the trainer's parts (:mod:`art_accel.parts`):
    one base (how the adversarial batch is built and trained on; PGD-AT by default), schedules and per-sample
    budgets. Used directly it is PGD adversarial training (Madry et al.).

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation, in the classifier's input units (e.g. 8/255 for [0, 1] images).
    :param eps_step: Attack step size.
    :param max_iter: Attack steps per batch.
    :param num_random_init: 0 starts the attack at the clean input, 1 (default) uniformly in the eps-ball.
    :param nb_epochs: The run's length: the default of ``fit`` and the length over which whole-run schedules
                      (Amata's anneal) plan. Default None: ``fit`` trains 20 epochs and such schedules plan over
                      the first ``fit``'s ``nb_epochs``.
    :param batch_size: Default batch size for ``fit``.
    :param attack_mode: Model mode during the inner attack: ``"eval"`` (default, as ART's PGD) or ``"train"``.
    :param augmentation: Optional :class:`~art_accel.augmentation.RandomCropFlip` applied on the device to
                         every training batch (parameters recorded in ``Batch.aug``).
    :param verbose: Show tqdm progress bars.
    :param schedule: Extra schedule part(s) composed with the method's own, e.g.
                     :class:`~art_accel.trainers.mplus.MPlusSteps` or
                     :class:`~art_accel.trainers.amata.AmataAnneal` (see "Composing methods" in the docs).
    :param budget: Extra per-sample budget part(s), e.g. :class:`~art_accel.trainers.ecas.EntropyEps`.
    :param co_guard: ``True`` or an :class:`~art_accel.guard.OverfittingGuard`: detect catastrophic
                     overfitting after each epoch and roll back to the last good epoch (opt-in; default off).
    :param precision: ``"32"`` (default), ``"bf16"`` (forwards of the attack and the update under
                      ``torch.autocast`` in bfloat16) or ``"16-mixed"`` (float16 autocast with a
                      ``torch.amp.GradScaler`` on the update). Losses, per-sample state and optimizer in float32.
    :param memory_format: ``"contiguous"`` (default) or ``"channels_last"`` (the model's parameters and the 4-D
                          inputs in channels_last layout, the same values; a PGD-7 epoch of the MNIST CNN took
                          0.72x the time on this project's CPU, ``docs/benchmarks/speed.md``; not measured on GPU).
    :param base: The base part (default :class:`~art_accel.trainers.bases.PGDAT`); public classes set it.
    :param parts: The method's own parts; public classes set them.
    """

    method_name = "base"
    #: Keys of the history shown in the progress bar.
    progress_keys: Tuple[str, ...] = ("loss", "accuracy")

    def __init__(
        self,
        classifier,
        eps: float,
        eps_step: float,
        max_iter: int,
        num_random_init: int = 1,
        nb_epochs: Optional[int] = None,
        batch_size: int = 128,
        attack_mode: str = "eval",
        augmentation: Optional[RandomCropFlip] = None,
        verbose: bool = True,
        schedule: Union[Part, Sequence[Part], None] = None,
        budget: Union[Part, Sequence[Part], None] = None,
        co_guard: Union[bool, Part, None] = None,
        precision: str = "32",
        memory_format: str = "contiguous",
        base: Optional[BasePart] = None,
        parts: Sequence[Part] = (),
    ):
        check_classifier(classifier)
        super().__init__(classifier=classifier)
        self.eps = check_budget(check_number(eps, "eps", low=0.0), "eps", classifier)
        #: The run's budget (validation uses it; ``eps`` may follow a schedule such as :class:`EpsRamp`).
        self.target_eps = self.eps
        self.eps_step = check_number(eps_step, "eps_step", low=0.0, low_open=True)
        self.max_iter = check_int(max_iter, "max_iter", low=0)
        self.num_random_init = check_int(num_random_init, "num_random_init", low=0)
        if self.num_random_init > 1:
            raise ValueError("num_random_init must be 0 or 1 for training (restarts are for evaluation attacks)")
        #: The run's planned length (schedules over the whole run, e.g. Amata's, plan over it); None: the first
        #: ``fit``'s ``nb_epochs``.
        self._planned_epochs = None if nb_epochs is None else check_int(nb_epochs, "nb_epochs", low=1)
        self.nb_epochs = 20 if nb_epochs is None else self._planned_epochs
        self.batch_size = check_int(batch_size, "batch_size", low=1)
        self.attack_mode = check_choice(attack_mode, "attack_mode", ("eval", "train"))
        if augmentation is not None and not isinstance(augmentation, RandomCropFlip):
            raise TypeError(f"augmentation must be an art_accel.augmentation.RandomCropFlip, got {augmentation!r}")
        self.augmentation = augmentation
        self.verbose = bool(verbose)
        self.counter = PassCounter()
        self.network = Network(classifier, self.counter)
        self.precision = check_choice(precision, "precision", ("32", "bf16", "16-mixed"))
        self.network.autocast_dtype = {"32": None, "bf16": torch.bfloat16, "16-mixed": torch.float16}[precision]
        self.scaler = torch.amp.GradScaler(self.network.device.type) if precision == "16-mixed" else None
        self.memory_format = check_choice(memory_format, "memory_format", ("contiguous", "channels_last"))
        if memory_format == "channels_last":
            self.network.channels_last = True
            self.network.model.to(memory_format=torch.channels_last)
        self.attack = OnDevicePGD(
            self.network, self.eps, self.eps_step, self.max_iter, self.num_random_init, model_mode=attack_mode
        )
        self.history: Optional[TrainingHistory] = None
        #: ``(rank, world_size)`` while training under DistributedDataParallel (:mod:`art_accel.distributed`).
        self.shard: Optional[Tuple[int, int]] = None
        #: When True, every update also returns its input gradient and the loop records ``grad_magnitude``.
        self.track_grad_magnitude = False
        #: Label smoothing of the cross-entropy update (torch semantics); 0 unless a method sets it.
        self.label_smoothing = 0.0
        #: The classifier's loss when it is not plain cross-entropy (then the update trains on it), else None.
        self.update_loss = _custom_loss(classifier)
        self._assemble(PGDAT() if base is None else base, parts, _as_parts(schedule, "schedule"),
                       _as_parts(budget, "budget"), _guard(co_guard))

    def _assemble(self, base: BasePart, own: Sequence[Part], *extra: Sequence[Part]) -> None:
        """Bind the parts, in stage order (stable), and let each check the others."""
        if not isinstance(base, BasePart):
            raise TypeError(f"base must be an art_accel.trainers.bases.BasePart, got {base!r}")
        added = [p for group in extra for p in group]
        self.objective = base
        self.parts: List[Part] = sorted([base, *own, *added], key=lambda p: STAGES.index(p.stage))
        setters = [p for p in self.parts if p.sets_k]
        if len(setters) > 1:
            raise ValueError(f"schedule: {type(setters[1]).__name__} would set k, which "
                             f"{type(setters[0]).__name__} already sets; a trainer has one k schedule")
        keys = [p.key for p in self.parts]
        if len(set(keys)) != len(keys):
            raise ValueError(f"parts: each part may appear once, got {keys}")
        for part in self.parts:
            part.bind(self)
        for part in self.parts:
            part.check(self)
        named = [p for p in added if p.stage != "guard"]
        if named:
            self.method_name = "+".join([self.method_name] + [p.key for p in named])
        self._batch_parts = [p for p in self.parts if type(p).on_batch_end is not Part.on_batch_end]

    # ------------------------------------------------------------------ what the parts use

    def _apply_k(self, k: int) -> None:
        """Set the number of attack steps (replays for Free) through the base."""
        self.objective.apply_k(k)

    def _apply_step(self, eps_step: float) -> None:
        """Set the attack step size through the base."""
        self.objective.apply_step(eps_step)

    def part(self, kind: type) -> Optional[Part]:
        """The trainer's first part that is an instance of ``kind`` (None if none)."""
        return next((p for p in self.parts if isinstance(p, kind)), None)

    def attack_batch(self, batch: Batch, target: Any = None, clean_probs: Optional[torch.Tensor] = None,
                     start: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, **options) -> AttackResult:
        """
        Attack one batch with the parts' per-sample budgets: ``target`` (default the labels) is what the
        attack's loss compares with, ``clean_probs`` the clean softmax when the base already has it, ``start``
        a function drawing the start perturbation (after the budgets, which may set ``delta_init`` instead).
        """
        budget: Dict[str, Any] = {}
        for part in self.parts:
            budget.update(part.budget(batch, clean_probs))
        if start is not None and "delta_init" not in budget:
            budget["delta_init"] = start(batch.x)
        result = self.attack.perturb(batch.x, batch.y if target is None else target, **budget, **options)
        for part in self.parts:
            part.after_attack(batch, result)
        return result

    def _on_fit_start(self, n_samples: Optional[int]) -> None:
        for part in self.parts:
            part.on_fit_start(n_samples)

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        record: Dict[str, Any] = {}
        for part in self.parts:
            part.on_epoch_start(epoch, record)
        return record

    def _train_batch(self, batch: Batch) -> StepOutput:
        return self.objective.train_batch(batch)

    def _on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for part in self.parts:
            out.update(part.on_epoch_end(epoch, {**record, **out}))
        return out

    def _config(self) -> Dict[str, Any]:
        """Parameters stored with the history."""
        config = {
            "eps": self.eps,
            "eps_step": self.eps_step,
            "max_iter": self.max_iter,
            "num_random_init": self.num_random_init,
            "attack_mode": self.attack_mode,
            "base": self.objective.name,
            "precision": self.precision,
            "memory_format": self.memory_format,
        }
        for part in self.parts:
            config.update(part.config())
        return config

    # ------------------------------------------------------------------ helpers for parts

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._classifier.optimizer

    @property
    def device(self) -> torch.device:
        return self.network.device

    def _optimizer_step(
        self, compute_loss: Callable[[], Tuple[torch.Tensor, torch.Tensor]], x_grad: Optional[torch.Tensor] = None
    ) -> StepOutput:
        """
        One weight update in train mode: ``compute_loss() -> (loss, logits)`` runs the counted forwards; one
        backward (also giving the gradient of ``x_grad`` when given, at no extra pass); one optimizer step.
        """
        self.network.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, logits = compute_loss()
        if self.scaler is None:
            grad = self.network.backward(loss, x_grad, "update")
            self.optimizer.step()
        else:  # float16: scaled loss; the input gradient is unscaled without a host read
            grad = self.network.backward(self.scaler.scale(loss), x_grad, "update")
            grad = None if grad is None else grad / self.scaler._get_scale_async()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return StepOutput(loss.detach(), logits.detach(), None if grad is None else grad.detach())

    def _grad_leaf(self, x: torch.Tensor, input_grad: Optional[bool] = None) -> torch.Tensor:
        """``x`` detached; requiring grad when the update must return its input gradient."""
        wanted = self.track_grad_magnitude if input_grad is None else input_grad
        return x.detach().requires_grad_(True) if wanted else x.detach()

    def _update(self, x_in: torch.Tensor, y: torch.Tensor, input_grad: Optional[bool] = None) -> StepOutput:
        """
        Weight update on the classifier's loss (mean cross-entropy by default) at ``x_in``. With
        ``input_grad=True`` (default: when the gradient magnitude is tracked) it also returns d loss / d x_in
        from the same backward.
        """
        x_in = self._grad_leaf(x_in, input_grad)

        def compute():
            logits = self.network.logits(x_in, "update")
            return self._ce(logits, y), logits

        return self._optimizer_step(compute, x_in if x_in.requires_grad else None)

    def _ce(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss the update trains on: the classifier's own loss, or cross-entropy (with the method's label
        smoothing) when the classifier's is plain cross-entropy."""
        if self.update_loss is not None:
            return self.update_loss(logits, y)
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)

    def _update_pair(self, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
                     loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> StepOutput:
        """
        Weight update on ``loss_fn(logits_clean, logits_adv, y)`` (TRADES, MART): two forwards, one backward
        through both (2 backward passes); accuracy is reported on the adversarial logits.
        """
        x_adv = self._grad_leaf(x_adv)

        def compute():
            logits = self.network.logits(x, "update")
            logits_adv = self.network.logits(x_adv, "update")
            return loss_fn(logits, logits_adv, y), logits_adv

        return self._optimizer_step(compute, x_adv if x_adv.requires_grad else None)

    # ------------------------------------------------------------------ public API

    def reset(self) -> None:
        """
        Start the method over: the next ``fit`` begins at epoch 0 with fresh schedules, per-sample state and
        history. The classifier's weights and optimizer are not touched.
        """
        self.history = None

    def fit(
        self,
        x,
        y,
        validation_data: Optional[Tuple[Any, Any]] = None,
        batch_size: Optional[int] = None,
        nb_epochs: Optional[int] = None,
        scheduler: Optional[Any] = None,
        **kwargs,
    ) -> TrainingHistory:
        """
        Train on in-memory data (ART's argument order). The data is copied to the classifier's device once;
        the caller's arrays are never modified. A further ``fit`` call continues the method where the last
        one stopped (schedules, per-sample state, history): ``N`` calls of ``fit(nb_epochs=1)`` train exactly
        as one ``fit(nb_epochs=N)``; :meth:`reset` starts over.

        :param x: Training inputs, numpy array or torch tensor of shape ``(N, *input_shape)``.
        :param y: Labels, class indices (N,) or one-hot (N, nb_classes).
        :param validation_data: Optional ``(x_val, y_val)``: clean and PGD accuracy recorded after each epoch.
        :param batch_size: Batch size (default: the constructor's).
        :param nb_epochs: Epochs this call trains (default: the constructor's; with ``resume_from``, the total).
        :param scheduler: Any torch LR scheduler on the classifier's optimizer (``ReduceLROnPlateau`` is
                          stepped on the epoch's training loss).
        :param kwargs: ``scheduler_step="epoch" | "batch"`` (when to call ``scheduler.step()``, default
                       ``"epoch"``); ``validation_max_iter`` (PGD steps for validation, default 10);
                       ``shuffle`` (default True); ``checkpoint_path`` (saved after every epoch) and
                       ``resume_from`` (a checkpoint to continue from, up to ``nb_epochs`` in total);
                       ``callbacks`` (``f(trainer, record)`` after each epoch, True stops), ``early_stopping``
                       (patience in epochs on ``val_robust_accuracy``), ``best_checkpoint_path`` (kept at the best
                       ``val_robust_accuracy``), ``tensorboard_dir`` (scalars per epoch; needs tensorboard).
        :return: The :class:`TrainingHistory` of the whole run so far.
        """
        nb_epochs = self.nb_epochs if nb_epochs is None else check_int(nb_epochs, "nb_epochs", low=1)
        batch_size = self.batch_size if batch_size is None else check_int(batch_size, "batch_size", low=1)
        if distributed.world() is not None:
            raise ValueError("fit: under torch.distributed, train with fit_loader(art_accel.distributed."
                             "sharded_loader(x, y, batch_size)), which gives each rank its shard")
        shuffle = kwargs.pop("shuffle", True)
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
        xt, yt = check_dataset(x, y, self._classifier)
        n = xt.shape[0]
        # BatchNorm cannot train on a batch of one sample: a lone last sample joins the previous batch
        starts = list(range(0, n, batch_size))
        if len(starts) > 1 and n - starts[-1] == 1 and _has_batchnorm(self.network.model):
            starts.pop()
        ends = starts[1:] + [n]

        def batches(_epoch: int) -> Iterator[Batch]:
            order = torch.randperm(n, device=xt.device) if shuffle else torch.arange(n, device=xt.device)
            for start, end in zip(starts, ends):
                idx = order[start:end]
                yield Batch(xt[idx], yt[idx], idx)

        return self._run(batches, len(starts), n, nb_epochs, validation_data, scheduler, kwargs)

    def fit_loader(
        self,
        loader: Iterable,
        nb_epochs: Optional[int] = None,
        validation_data: Optional[Tuple[Any, Any]] = None,
        scheduler: Optional[Any] = None,
        **kwargs,
    ) -> TrainingHistory:
        """
        Train from a ``torch.utils.data.DataLoader`` (or any re-iterable of batches) yielding ``(x, y)`` or
        ``(x, y, index)``; ``index`` (dataset positions) is required by methods with per-sample state.
        """
        nb_epochs = self.nb_epochs if nb_epochs is None else check_int(nb_epochs, "nb_epochs", low=1)
        n_batches = len(loader) if hasattr(loader, "__len__") else None
        n_samples = len(loader.dataset) if hasattr(loader, "dataset") and hasattr(loader.dataset, "__len__") else None
        self._check_loader(loader, n_batches, n_samples, nb_epochs)
        self._setup_distributed(loader)
        checked = CheckedBatches(loader, self._classifier, n_samples, self.needs_index, self.shard)
        sampler = getattr(loader, "sampler", None)

        def batches(epoch: int) -> Iterator[Batch]:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            for x_b, y_b, idx in checked.epoch(epoch):
                yield Batch(x_b, y_b, idx)

        return self._run(batches, n_batches, n_samples, nb_epochs, validation_data, scheduler, kwargs)

    def _check_loader(self, loader, n_batches: Optional[int], n_samples: Optional[int], nb_epochs: int) -> None:
        """Up-front checks of a loader: re-iterable, not empty, no lone final sample for BatchNorm."""
        if not hasattr(loader, "__iter__"):
            raise TypeError(f"loader must be an iterable of batches (a DataLoader), got {type(loader).__name__}")
        if iter(loader) is loader and nb_epochs > 1:
            raise ValueError("loader is a one-shot iterator (a generator): it cannot be read for several epochs; "
                             "pass a DataLoader or a list")
        if n_batches == 0:
            raise ValueError("loader is empty")
        size = getattr(loader, "batch_size", None)
        if (size and n_samples and not getattr(loader, "drop_last", False) and n_samples % size == 1
                and n_samples > 1 and _has_batchnorm(self.network.model)):
            raise ValueError(f"loader: its last batch has one sample ({n_samples} samples, batch_size {size}), "
                             "which BatchNorm cannot train on: use drop_last=True or another batch_size")

    def _setup_distributed(self, loader) -> None:
        """Under torch.distributed: the update through DistributedDataParallel, the per-sample state sharded."""
        self.shard = distributed.world()
        if self.shard is None:
            return
        if not self.objective.ddp_ready:
            raise ValueError(f"base: {self.objective.name!r} is not supported under DistributedDataParallel yet "
                             "(its update is not one forward and one backward); PGD-AT, FGSM, Free/DEAT and the "
                             "methods on them are")
        if any(p.stage == "guard" for p in self.parts):
            raise ValueError("co_guard is not supported under DistributedDataParallel yet")
        if self.needs_index and not isinstance(getattr(loader, "sampler", None), distributed.ShardedSampler):
            raise ValueError("loader: per-sample state under DistributedDataParallel needs each rank's fixed shard: "
                             "use art_accel.distributed.sharded_loader or a ShardedSampler")
        if self.network.update_model is None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.network.update_model = DistributedDataParallel(self.network.model, device_ids=ids)

    @property
    def needs_index(self) -> bool:
        """Whether a part keeps per-sample state (batches need their dataset positions)."""
        return any(getattr(p, "uses_index", False) for p in self.parts)

    def fit_generator(self, generator, nb_epochs: Optional[int] = None, **kwargs) -> TrainingHistory:
        """
        Train from an ART ``DataGenerator``. A ``PyTorchDataGenerator`` is read through its DataLoader;
        others through ``get_batch()`` (numpy batches, copied to the device one by one).
        """
        from art.data_generators import DataGenerator

        if not isinstance(generator, DataGenerator):
            raise TypeError(f"generator must be an art.data_generators.DataGenerator, got {type(generator)!r}")
        loader = getattr(generator, "iterator", None)
        if isinstance(loader, torch.utils.data.DataLoader):
            return self.fit_loader(loader, nb_epochs=nb_epochs, **kwargs)
        steps = math.ceil(generator.size / generator.batch_size)
        return self.fit_loader(_GetBatchLoader(generator, steps), nb_epochs=nb_epochs, **kwargs)

    # ------------------------------------------------------------------ the loop

    def _run(self, batches, n_batches, n_samples, nb_epochs, validation_data, scheduler, options) -> TrainingHistory:
        scheduler_step = check_choice(options.pop("scheduler_step", "epoch"), "scheduler_step", ("epoch", "batch"))
        val_iter = check_int(options.pop("validation_max_iter", 10), "validation_max_iter", low=0)
        checkpoint_path = options.pop("checkpoint_path", None)
        resume_from = options.pop("resume_from", None)
        if resume_from is not None and not isinstance(resume_from, (str, os.PathLike)):
            raise TypeError(f"resume_from must be a path, got {type(resume_from).__name__}")
        if resume_from is not None and not os.path.isfile(resume_from):
            raise FileNotFoundError(f"resume_from: no checkpoint at {resume_from}")
        after = EpochEnd(options, validation_data is not None)
        if options:
            raise TypeError(f"fit got unexpected keyword arguments: {sorted(options)}")
        check_optimizer(self._classifier)
        for path in [checkpoint_path, *after.folders()]:
            self._preflight_path(path)
        self._preflight(scheduler)
        if scheduler is not None and getattr(scheduler, "optimizer", self.optimizer) is not self.optimizer:
            raise ValueError("scheduler must be built on the classifier's optimizer (classifier.optimizer)")
        plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        if plateau and scheduler_step == "batch":
            raise ValueError("scheduler: ReduceLROnPlateau steps per epoch (on the training loss); use "
                             "scheduler_step='epoch'")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (x_val, y_val)")
            val = check_dataset(validation_data[0], validation_data[1], self._classifier, "x_val", "y_val")
        continuing = resume_from is None and self.history is not None and len(self.history) > 0
        if continuing:  # a further fit call: the method goes on where the last call stopped
            if n_samples != self._n_samples and self.needs_index:
                raise ValueError(f"fit: this trainer's per-sample state is for {self._n_samples} samples, this data "
                                 f"has {n_samples}: call trainer.reset() to start over")
            history = self.history
            start = history.records[-1]["epoch"] + 1
            end = start + nb_epochs
        else:
            self.fit_epochs = nb_epochs
            self.planned_epochs = self._planned_epochs if self._planned_epochs is not None else nb_epochs
            self._n_samples = n_samples
            self._on_fit_start(n_samples)
            history = TrainingHistory(self.method_name, self._config())
            start, end = 0, nb_epochs
            if resume_from is not None:
                history, start = self._resume(resume_from, scheduler, n_samples)
        self.history = history
        elapsed = history.records[-1]["elapsed_seconds"] if history.records else 0.0
        epochs = tqdm(range(start, end), desc=self.method_name, disable=not self.verbose, unit="epoch")
        for epoch in epochs:
            record: Dict[str, Any] = {"epoch": epoch, "lr": float(self.optimizer.param_groups[0]["lr"])}
            before = self.counter.snapshot()
            meter = _EpochMeter(self.device)
            magnitude = torch.zeros((), device=self.device, dtype=torch.float64)
            saved = self._weights_snapshot()
            try:
                timer = self._epoch(epoch, record, batches, n_batches, meter, magnitude, scheduler, scheduler_step,
                                    plateau)
            except Exception:
                self._restore_weights(saved)  # a failed epoch leaves the weights as they were at its start
                raise
            spent = self.counter.since(before)
            passes = torch.tensor([spent.training_forward(), spent.training_backward()], dtype=torch.float64)
            if self.shard is not None:  # the global count: every rank's passes
                distributed.all_reduce_sum(passes)
            elapsed += timer.seconds
            record.update(
                seconds=timer.seconds,
                elapsed_seconds=elapsed,
                forward_passes=int(passes[0]),
                backward_passes=int(passes[1]),
            )
            if val is not None:
                record.update(self._validate(val[0], val[1], val_iter))
            history.append(record)
            if checkpoint_path is not None:
                self.save_checkpoint(checkpoint_path, scheduler)
            epochs.set_postfix({k: record[k] for k in self.progress_keys if k in record}, refresh=False)
            if after.after(self, record, scheduler):
                break
        after.close()
        self.network.model.eval()
        return history

    def _epoch(self, epoch, record, batches, n_batches, meter, magnitude, scheduler, scheduler_step, plateau):
        """One epoch: the parts' epoch start, every batch, the scheduler, the parts' epoch end; its timer."""
        with Timer(self.device) as timer:
            record.update(self._on_epoch_start(epoch))
            inner = tqdm(batches(epoch), total=n_batches, leave=False, disable=not self.verbose, unit="batch")
            for batch in inner:
                if self.augmentation is not None:
                    batch.aug = self.augmentation.sample(batch.x.shape[0], batch.x.device)
                    batch.x = self.augmentation.apply(batch.x, batch.aug)
                out = self._train_batch(batch)
                meter.add(out, batch.y)
                for part in self._batch_parts:
                    part.on_batch_end(batch)
                if self.track_grad_magnitude:
                    magnitude += self._magnitude(out, batch)
                if scheduler is not None and scheduler_step == "batch":
                    scheduler.step()
            if self.shard is not None:  # global metrics: one collective per epoch
                count = torch.tensor([float(meter.count)], device=self.device)
                distributed.all_reduce_sum(meter.loss, meter.correct, count, magnitude)
                meter.count = int(count.item())
            record.update(meter.read())
            if not math.isfinite(record["loss"]):
                raise FloatingPointError(
                    f"epoch {epoch}: the training loss is {record['loss']} (diverged: learning rate too high?); "
                    f"training stopped, the weights are those of the start of epoch {epoch}, no checkpoint was "
                    "written for it")
            if scheduler is not None and scheduler_step == "epoch":
                scheduler.step(record["loss"]) if plateau else scheduler.step()
            if self.track_grad_magnitude:
                record["grad_magnitude"] = float(magnitude)
            record.update(self._on_epoch_end(epoch, record))
        return timer

    def _weights_snapshot(self) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
        """Copies of the model's and the optimizer's state (restored if the epoch fails)."""
        model = {k: v.detach().clone() for k, v in self.network.model.state_dict().items()}
        return model, copy.deepcopy(self.optimizer.state_dict())

    def _restore_weights(self, saved) -> None:
        self.network.model.load_state_dict(saved[0])
        self.optimizer.load_state_dict(saved[1])

    @staticmethod
    def _preflight_path(path) -> None:
        """A checkpoint path whose folder exists and is writable."""
        if path is None:
            return
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"checkpoint_path must be a path, got {type(path).__name__}")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise ValueError(f"checkpoint_path: the folder {folder} does not exist or is not writable")

    def _preflight(self, scheduler) -> None:
        """Checks before the first step: the scheduler, and one dry forward of the model and its loss."""
        needed = ("step", "state_dict", "load_state_dict")
        if scheduler is not None and not all(hasattr(scheduler, name) for name in needed):
            raise TypeError(f"scheduler must be a torch LR scheduler (step, state_dict), got "
                            f"{type(scheduler).__name__}")
        model, shape = self.network.model, tuple(self._classifier.input_shape)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = self.network.logits(torch.zeros((2,) + shape, device=self.device), "preflight")
        except Exception as err:
            raise ValueError(f"classifier: the model does not accept inputs of input_shape {shape} "
                             f"({type(err).__name__}: {str(err)[:200]})") from None
        finally:
            model.train(was_training)
        if out.dim() != 2 or out.shape[1] != self._classifier.nb_classes:
            raise ValueError(f"classifier: the model outputs shape {tuple(out.shape)} for two samples, expected "
                             f"(2, {self._classifier.nb_classes}) (nb_classes)")
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("error")  # e.g. MSELoss broadcasting (logits, indices)
                loss = self._ce(out, torch.zeros(2, dtype=torch.int64, device=out.device))
            if loss.dim() != 0:
                raise ValueError(f"it returned shape {tuple(loss.shape)}, not a scalar")
        except Exception as err:
            raise ValueError(f"classifier: its loss does not accept (logits, class indices) "
                             f"({type(err).__name__}: {str(err)[:200]})") from None

    # ------------------------------------------------------------------ checkpoints

    def _method_state(self) -> Dict[str, Any]:
        """What the parts must carry across a checkpoint (per-sample state, criterion state), by part key."""
        return {part.key: part.state_dict() for part in self.parts}

    def _load_method_state(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`_method_state` (called after ``_on_fit_start`` when resuming)."""
        for part in self.parts:
            part.load_state_dict(state[part.key])

    def save_checkpoint(self, path: str, scheduler: Optional[Any] = None) -> None:
        """
        Save the model, optimizer, LR scheduler, history, the method's state and the RNG states after the last
        finished epoch, so that ``fit(..., resume_from=path)`` continues where this left off. The file loads
        with ``torch.load(..., weights_only=True)`` and carries a checksum (:mod:`art_accel.checkpoint`);
        non-finite weights are never written.
        """
        if self.history is None or not self.history.records:
            raise ValueError("save_checkpoint: nothing trained yet")
        if not self._weights_finite():
            raise FloatingPointError(f"save_checkpoint: the weights after epoch {self.history.records[-1]['epoch']} "
                                     "are not finite; nothing was written")
        rng = torch.get_rng_state()
        if self.shard is not None:  # every rank's RNG state; rank 0 writes
            rng = distributed.gather_rows(rng[None], self.shard)
        payload = plain({
            "method": self.method_name,
            "epoch": self.history.records[-1]["epoch"],
            "n_samples": getattr(self, "_n_samples", None),
            "config": self.history.config,
            "model": self.network.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "history": self.history.to_dict(),
            "method_state": self._method_state(),
            "torch_rng": rng,
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        })
        if self.shard is None or self.shard[0] == 0:
            write_checkpoint(path, payload)
        if self.shard is not None:
            torch.distributed.barrier()

    def _weights_finite(self) -> bool:
        """Whether every parameter and buffer of the model is finite (one host read)."""
        tensors = [t for t in self.network.model.state_dict().values() if t.is_floating_point()]
        return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()) if tensors else True

    def _resume(self, path: str, scheduler: Optional[Any], n_samples: Optional[int]) -> Tuple[TrainingHistory, int]:
        """Validate ``path`` against this trainer, then restore all of it or, on any failure, none of it."""
        model, optimizer = self.network.model, self.optimizer
        payload = read_checkpoint(path, self.method_name, n_samples, plain(self._config()), model.state_dict(),
                                  optimizer.state_dict(), self._method_state(), self.device)
        backup = ({k: v.detach().clone() for k, v in model.state_dict().items()},
                  copy.deepcopy(optimizer.state_dict()), None if scheduler is None else scheduler.state_dict(),
                  copy.deepcopy(self._method_state()), torch.get_rng_state())
        try:
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            if scheduler is not None and payload["scheduler"] is not None:
                scheduler.load_state_dict(payload["scheduler"])
            self._load_method_state(payload["method_state"])
            rng = payload["torch_rng"].cpu()
            if self.shard is not None:
                if rng.dim() != 2 or rng.shape[0] != self.shard[1]:
                    raise ValueError(f"the checkpoint holds RNG states of {rng.shape[0] if rng.dim() == 2 else 1} "
                                     f"ranks; resume on the same world size ({self.shard[1]} now)")
                rng = rng[self.shard[0]].clone()  # its own storage: set_rng_state reads from its start
            torch.set_rng_state(rng)
            if payload["cuda_rng"] is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state_all(payload["cuda_rng"])
            history = TrainingHistory.from_dict(payload["history"])
        except Exception as err:
            model.load_state_dict(backup[0])
            optimizer.load_state_dict(backup[1])
            if scheduler is not None:
                scheduler.load_state_dict(backup[2])
            self._load_method_state(backup[3])
            torch.set_rng_state(backup[4])
            raise CheckpointError(f"resume_from: {path}: could not be restored, nothing was changed "
                                  f"({type(err).__name__}: {str(err)[:200]})") from None
        return history, int(payload["epoch"]) + 1

    def _magnitude(self, out: StepOutput, batch: Batch) -> torch.Tensor:
        """
        L1 norm of the last update's input gradient, per-sample scale: the batch-mean loss's gradient times
        the batch size (M+'s l_X contribution; no extra pass).
        """
        if out.input_grad is None:
            raise RuntimeError(f"{type(self).__name__} does not return input gradients from its update")
        return out.input_grad.abs().sum(dtype=torch.float64) * batch.x.shape[0]

    def _validate(self, x: torch.Tensor, y: torch.Tensor, max_iter: int) -> Dict[str, float]:
        """Clean and PGD-``max_iter`` accuracy (step eps/4, no random start) in eval mode; not training cost."""
        model, net = self.network.model, self.network
        was_training = model.training
        model.eval()
        eps = self.target_eps  # the run's budget, also while a schedule ramps the training eps up
        attack = OnDevicePGD(net, eps, max(eps / 4, 1e-6), max_iter, 0, phase="validation")
        correct = robust = 0
        with Timer(self.device) as timer:
            for start in range(0, x.shape[0], 256):
                xb, yb = x[start : start + 256], y[start : start + 256]
                with torch.no_grad():
                    correct += (net.logits(xb, "validation").argmax(1) == yb).sum()
                x_adv = attack.perturb(xb, yb).x_adv
                with torch.no_grad():
                    robust += (net.logits(x_adv, "validation").argmax(1) == yb).sum()
        model.train(was_training)
        n = x.shape[0]
        return {
            "val_accuracy": float(correct) / n,
            "val_robust_accuracy": float(robust) / n,
            "val_seconds": timer.seconds,
        }


def _custom_loss(classifier):
    """The classifier's loss unless it is plain cross-entropy (mean, no weights, no smoothing), else None."""
    loss = getattr(classifier, "_loss", None)
    plain = (isinstance(loss, torch.nn.CrossEntropyLoss) and loss.weight is None and loss.reduction == "mean"
             and loss.label_smoothing == 0.0 and loss.ignore_index == -100)
    return None if plain or loss is None else loss


def _has_batchnorm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


#: Keyword arguments every public trainer passes on to :class:`AdversarialTrainerBase`.
COMMON_PARAMETERS = ("nb_epochs", "batch_size", "attack_mode", "augmentation", "verbose", "schedule", "budget",
                     "co_guard", "precision", "memory_format")


def with_common_parameters(init):
    """
    Give a public trainer's ``__init__(self, classifier, ..., **kwargs)`` the signature it really has: its own
    parameters followed by :data:`COMMON_PARAMETERS` as keyword-only parameters with the base's defaults
    (what ``inspect.signature`` and the API reference show). Any other keyword raises a ``TypeError`` naming
    it (with the class's ``argument_hints`` when it has one for it).
    """
    own = inspect.signature(init)
    params = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    base = inspect.signature(AdversarialTrainerBase.__init__).parameters
    params += [base[name].replace(kind=inspect.Parameter.KEYWORD_ONLY) for name in COMMON_PARAMETERS
               if name not in own.parameters]
    signature = own.replace(parameters=params)
    accepted = set(signature.parameters)

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        unknown = sorted(set(kwargs) - accepted)
        if unknown:
            hints = getattr(type(self), "argument_hints", {})
            hint = "; ".join(f"{name}: {hints[name]}" for name in unknown if name in hints)
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {unknown}"
                            + (f" ({hint})" if hint else f"; it takes {sorted(accepted - {'self'})}"))
        return init(self, *args, **kwargs)

    checked.__signature__ = signature
    return checked


class _GetBatchLoader:
    """Re-iterable view of an ART ``DataGenerator`` as ``steps`` numpy batches per epoch."""

    def __init__(self, generator, steps: int):
        self.generator, self.steps = generator, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            yield self.generator.get_batch()
