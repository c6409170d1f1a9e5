"""
The one training loop every art-accel method runs in.

A method is an assembly of parts (:mod:`art_accel.contract`): the loop calls their hooks at the start of
``fit``, at each epoch's start and end, and per batch through the objective (the ``base`` part). Data handling,
labels, device placement, pass accounting, progress bars, LR schedulers, validation and the history live here
once; the update is in :mod:`.update`, checkpoints in :mod:`art_accel.checkpoint`.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from art.defences.trainer.trainer import Trainer
from tqdm.auto import tqdm

from art_accel import distributed
from art_accel.accounting import EpochMeter, PassCounter, Timer
from art_accel.attacks import AttackResult, AttackStrength, OnDevicePGD
from art_accel.augmentation import RandomCropFlip
from art_accel.averaging import EMA
from art_accel.checkpoint import RandomStates, checkpoint_payload, resume_trainer, write_checkpoint
from art_accel.contract import STAGES, Batch, Part, StepOutput
from art_accel.fit_options import FitOptions
from art_accel.history import TrainingHistory
from art_accel.loader_checks import ArrayBatches, CheckedBatches, check_loader, loader_of
from art_accel.network import Network
from art_accel.robust_accuracy import validation_accuracy
from art_accel.trainers import update as updates
from art_accel.trainers.assembly import as_parts, guard_parts, one_each, one_part
from art_accel.trainers.objectives import PGDAT, BasePart
from art_accel.validation import (
    check_batch_size_for_batchnorm,
    check_budget,
    check_choice,
    check_classifier,
    check_dataset,
    check_int,
    check_model_and_loss,
    check_number,
    check_optimizer,
    check_scheduler_length,
    has_batchnorm,
)


class AdversarialTrainerBase(Trainer):
    """
    The loop every art-accel trainer runs in, driving the trainer's parts (:mod:`art_accel.contract`):
    one objective (how the adversarial batch is built and trained on; PGD-AT by default), schedules and
    per-sample budgets. Used directly it is PGD adversarial training (Madry et al.).

    :param classifier: An ART ``PyTorchClassifier`` with an optimizer.
    :param eps: Maximum L-inf perturbation, in the classifier's input units (e.g. 8/255 for [0, 1] images).
    :param eps_step: Attack step size.
    :param max_iter: Attack steps per batch (replays after the first for the Free base).
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
    :param averaging: An :class:`~art_accel.averaging.EMA` (or its decay, a float): an exponential moving average
                      of the weights, which validation judges and the classifier holds after ``fit`` (default None).
    :param precision: ``"32"`` (default), ``"bf16"`` (forwards of the attack and the update under
                      ``torch.autocast`` in bfloat16) or ``"16-mixed"`` (float16 autocast with a
                      ``torch.amp.GradScaler`` on the update). Losses, per-sample state and optimizer in float32.
    :param memory_format: ``"contiguous"`` (default) or ``"channels_last"`` (the model's parameters and the 4-D
                          inputs in channels_last layout, the same values; ``docs/benchmarks/speed.md``).
    :param base: The objective part (default :class:`~art_accel.trainers.objectives.PGDAT`); public classes set it.
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
        averaging: Optional[Part] = None,
        precision: str = "32",
        memory_format: str = "contiguous",
        base: Optional[BasePart] = None,
        parts: Sequence[Part] = (),
    ):
        check_classifier(classifier)
        super().__init__(classifier=classifier)
        eps = check_budget(check_number(eps, "eps", low=0.0), "eps", classifier)
        #: The attack's strength, shared with the attack (:class:`~art_accel.attacks.AttackStrength`).
        self.strength = AttackStrength(eps, check_number(eps_step, "eps_step", low=0.0, low_open=True),
                                       check_int(max_iter, "max_iter", low=0))
        #: The run's budget (validation uses it; ``eps`` may follow a schedule such as :class:`EpsRamp`).
        self.target_eps = eps
        self.num_random_init = check_int(num_random_init, "num_random_init", low=0)
        if self.num_random_init > 1:
            raise ValueError("num_random_init must be 0 or 1 for training (restarts are for evaluation attacks)")
        #: The run's planned length (schedules over the whole run, e.g. Amata's, plan over it); None: the first
        #: ``fit``'s ``nb_epochs``.
        self.run_epochs = None if nb_epochs is None else check_int(nb_epochs, "nb_epochs", low=1)
        self.nb_epochs = 20 if nb_epochs is None else self.run_epochs
        self.planned_epochs: Optional[int] = self.run_epochs
        #: torch's random states at the end of the last finished epoch: a further ``fit`` call goes on from them,
        #: so what runs between two calls (ART's ``predict``, an evaluation) cannot change the training
        self._random_states: Optional[RandomStates] = None
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
        self.history: Optional[TrainingHistory] = None
        #: Data set size of the current run (None when unknown).
        self.n_samples: Optional[int] = None
        #: ``(rank, world_size)`` while training under DistributedDataParallel (:mod:`art_accel.distributed`).
        self.shard: Optional[Tuple[int, int]] = None
        #: Why training stopped early (a part's :meth:`request_stop`), None while it runs or when it did not.
        self.stop_reason: Optional[str] = None
        #: Label smoothing of the cross-entropy update (torch semantics); 0 unless a method sets it.
        self.label_smoothing = 0.0
        #: The classifier's loss when it is not plain cross-entropy (then the update trains on it), else None.
        self.update_loss = updates.custom_loss(classifier)
        self._assemble(PGDAT() if base is None else base, parts, as_parts(schedule, "schedule"),
                       as_parts(budget, "budget"), guard_parts(co_guard),
                       one_part(EMA(averaging) if isinstance(averaging, float) else averaging, "averaging",
                                "averaging", "an art_accel.averaging.EMA, a decay, or None"))

    def _assemble(self, base: BasePart, own: Sequence[Part], *extra: Sequence[Part]) -> None:
        """Bind the parts in stage order (stable), build the attack, let each part check the others, and refuse
        parts whose declared capabilities clash."""
        if not isinstance(base, BasePart):
            raise TypeError(f"base must be an art_accel.trainers.objectives.BasePart, got {base!r}")
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
        one_each([p for p in self.parts if p.makes_attack], "the trainer's attack")
        for part in self.parts:
            part.bind(self)
        maker = next((p for p in self.parts if p.makes_attack), None)
        self.attack = (maker.make_attack(self) if maker is not None else
                       OnDevicePGD(self.network, 0.0, 0.0, 0, self.num_random_init, model_mode=self.attack_mode,
                                   strength=self.strength))
        for part in self.parts:
            part.check(self)
        one_each([p for p in self.parts if p.sets_eps], "the attack's per-batch eps")
        one_each([p for p in self.parts if p.sets_step], "the attack's per-batch eps_step")
        one_each([p for p in self.parts if p.sets_start], "the attack's per-batch delta_init")
        named = [p for p in added if p.stage not in ("guard", "averaging")]
        if named:
            self.method_name = "+".join([self.method_name] + [p.key for p in named])
        self._batch_parts = [p for p in self.parts if type(p).on_batch_end is not Part.on_batch_end]
        #: The weight-averaging part (:class:`~art_accel.averaging.EMA`), or None.
        self.averaging = next((p for p in self.parts if p.stage == "averaging"), None)
        #: Whether every update also returns its input gradient (a part reads it).
        self.wants_input_grad = any(p.needs_input_grad for p in self.parts)

    # ------------------------------------------------------------------ what parts may use (art_accel.contract)

    eps = property(lambda self: self.strength.eps, doc="The attack's budget now (``strength.eps``).")
    eps_step = property(lambda self: self.strength.eps_step, doc="The attack's step now (``strength.eps_step``).")
    max_iter = property(lambda self: self.strength.max_iter,
                        doc="The attack's steps now (``strength.max_iter``; replays after the first for Free).")

    @property
    def classifier(self):
        """The ART classifier being trained (as :meth:`get_classifier`)."""
        return self._classifier

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self._classifier.optimizer

    @property
    def device(self) -> torch.device:
        return self.network.device

    def part(self, kind: type) -> Optional[Part]:
        """The trainer's first part that is an instance of ``kind`` (None if none)."""
        return next((p for p in self.parts if isinstance(p, kind)), None)

    def attack_batch(self, batch: Batch, target: Any = None,
                     start: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, **options) -> AttackResult:
        """
        Attack one batch with the parts' per-batch budgets: ``target`` (default the labels) is what the
        attack's loss compares with, ``start`` a function drawing the start perturbation (unless a budget sets
        ``delta_init``); ``options`` go to the attack's ``perturb`` (e.g. ``loss_fn``).
        """
        budget: Dict[str, Any] = {}
        for part in self.parts:
            budget.update(part.budget(batch))
        if start is not None and "delta_init" not in budget:
            budget["delta_init"] = start(batch.x)
        result = self.attack.perturb(batch.x, batch.y if target is None else target, **budget, **options)
        for part in self.parts:
            part.after_attack(batch, result)
        return result

    def training_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss the update trains on: the classifier's own loss, or cross-entropy (with the method's label
        smoothing) when the classifier's is plain cross-entropy."""
        return updates.training_loss(self.update_loss, self.label_smoothing, logits, y)

    def update(self, x_in: torch.Tensor, y: torch.Tensor, input_grad: Optional[bool] = None) -> StepOutput:
        """
        One weight update on :meth:`training_loss` at ``x_in`` (1 forward, 1 backward, counted). With
        ``input_grad=True`` (default: when a part reads it) it also returns d loss / d x_in from the same backward.
        """
        x_in = updates.grad_leaf(x_in, self.wants_input_grad if input_grad is None else input_grad)

        def compute():
            logits = self.network.logits(x_in, "update")
            return self.training_loss(logits, y), logits

        return updates.optimizer_step(self.network, self.optimizer, self.scaler, compute,
                                      x_in if x_in.requires_grad else None)

    def update_pair(self, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> StepOutput:
        """
        One weight update on ``loss_fn(logits_clean, logits_adv, y)`` (TRADES, MART): two forwards, one backward
        through both (2 backward passes); accuracy is reported on the adversarial logits.
        """
        x_adv = updates.grad_leaf(x_adv, self.wants_input_grad)

        def compute():
            logits = self.network.logits(x, "update")
            logits_adv = self.network.logits(x_adv, "update")
            return loss_fn(logits, logits_adv, y), logits_adv

        return updates.optimizer_step(self.network, self.optimizer, self.scaler, compute,
                                      x_adv if x_adv.requires_grad else None)

    def scale_step(self, factor: float) -> None:
        """Make the attack step, and every part's own step rule, smaller by ``factor``."""
        self.strength.eps_step = self.strength.eps_step * factor
        for part in self.parts:
            part.scale_step(factor)

    def request_stop(self, reason: str) -> None:
        """Stop training after the current epoch (its record is kept); ``reason`` is kept in ``stop_reason``."""
        self.stop_reason = reason

    def method_state(self) -> Dict[str, Any]:
        """What the parts must carry across a checkpoint (per-sample state, criterion state), by part key."""
        return {part.key: part.state_dict() for part in self.parts}

    def load_method_state(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`method_state` (every key of ``state`` that names a part)."""
        for part in self.parts:
            if part.key in state:
                part.load_state_dict(state[part.key])

    # ------------------------------------------------------------------ the loop's own steps

    def _on_fit_start(self, n_samples: Optional[int]) -> None:
        for part in self.parts:
            part.on_fit_start(n_samples)

    def _on_epoch_start(self, epoch: int) -> Dict[str, Any]:
        record: Dict[str, Any] = {}
        for part in self.parts:
            part.on_epoch_start(epoch, record)
        return record

    def _on_epoch_end(self, epoch: int, record: Dict[str, Any]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for part in self.parts:
            out.update(part.on_epoch_end(epoch, {**record, **out}))
        return out

    def config(self) -> Dict[str, Any]:
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

    # ------------------------------------------------------------------ public API

    def predict(self, x, **kwargs):
        """The classifier's predictions for ``x`` (ART's trainers' ``predict``: ``classifier.predict(x, **kwargs)``)."""
        return self._classifier.predict(x, **kwargs)

    def reset(self) -> None:
        """Start the method over: the next ``fit`` begins at epoch 0 with fresh schedules, per-sample state and
        history (the classifier's weights and optimizer are not touched)."""
        self.history = None
        self._random_states = None

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
                       ``shuffle`` (default True; under torch.distributed each rank's fixed shard, shuffled
                       per epoch as :func:`~art_accel.distributed.sharded_loader` does); ``checkpoint_path``
                       (saved after every epoch) and
                       ``resume_from`` (a checkpoint to continue from, up to ``nb_epochs`` in total);
                       ``callbacks`` (``f(trainer, record)`` after each epoch, True stops), ``early_stopping``
                       (patience in epochs on ``val_robust_accuracy``), ``best_checkpoint_path`` (kept at the best
                       ``val_robust_accuracy``), ``tensorboard_dir`` (scalars per epoch; needs tensorboard).
        :return: The :class:`TrainingHistory` of the whole run so far.
        """
        nb_epochs = self.nb_epochs if nb_epochs is None else check_int(nb_epochs, "nb_epochs", low=1)
        batch_size = self.batch_size if batch_size is None else check_int(batch_size, "batch_size", low=1)
        check_batch_size_for_batchnorm(batch_size, self.network.model)
        shuffle = kwargs.pop("shuffle", True)
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be a bool, got {type(shuffle).__name__}")
        xt, yt = check_dataset(x, y, self._classifier)
        if distributed.world() is not None:  # each rank trains on its fixed shard, as with sharded_loader
            loader = distributed.sharded_loader(xt, yt, batch_size, shuffle=shuffle)
            return self.fit_loader(loader, nb_epochs, validation_data, scheduler, **kwargs)
        data = ArrayBatches(xt, yt, batch_size, shuffle, has_batchnorm(self.network.model))
        return self._run(data.epoch, len(data), xt.shape[0], nb_epochs, validation_data, scheduler, kwargs)

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
        check_loader(loader, n_batches, n_samples, nb_epochs, self.network.model)
        check_batch_size_for_batchnorm(getattr(loader, "batch_size", None), self.network.model, "loader.batch_size")
        self.shard = distributed.setup(self, loader)
        checked = CheckedBatches(loader, self._classifier, n_samples, self.needs_index, self.shard)
        sampler = getattr(loader, "sampler", None)

        def batches(epoch: int) -> Iterator[Batch]:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            for x_b, y_b, idx in checked.epoch(epoch):
                yield Batch(x_b, y_b, idx)

        return self._run(batches, n_batches, n_samples, nb_epochs, validation_data, scheduler, kwargs)

    @property
    def needs_index(self) -> bool:
        """Whether a part keeps per-sample state (batches need their dataset positions)."""
        return any(p.uses_index for p in self.parts)

    def fit_generator(self, generator, nb_epochs: Optional[int] = None, scheduler: Optional[Any] = None,
                      **kwargs) -> TrainingHistory:
        """
        Train from an ART ``DataGenerator``. A ``PyTorchDataGenerator`` is read through its DataLoader (for
        per-sample state, the same loader over its dataset with each sample's position added); others through
        ``get_batch()`` (numpy batches, copied to the device one by one).
        """
        loader = loader_of(generator, self.needs_index)
        check_batch_size_for_batchnorm(generator.batch_size, self.network.model, "generator.batch_size")
        return self.fit_loader(loader, nb_epochs=nb_epochs, scheduler=scheduler, **kwargs)

    def _run(self, batches, n_batches, n_samples, nb_epochs, validation_data, scheduler, options) -> TrainingHistory:
        check_optimizer(self._classifier)
        opts = FitOptions(options, validation_data, scheduler, self._classifier)
        check_model_and_loss(self.network, self._classifier, self.training_loss)
        if opts.resume_from is None and n_batches is not None:
            per_epoch = n_batches if opts.scheduler_step == "batch" else 1
            check_scheduler_length(scheduler, opts.scheduler_step, nb_epochs * per_epoch)
        resume_from = opts.resume_from
        continuing = resume_from is None and self.history is not None and len(self.history) > 0
        if continuing:  # a further fit call: the method goes on where the last call stopped
            if n_samples != self.n_samples and self.needs_index:
                raise ValueError(f"fit: this trainer's per-sample state is for {self.n_samples} samples, this data "
                                 f"has {n_samples}: call trainer.reset() to start over")
            history = self.history
            if self._random_states is not None:
                self._random_states.restore()
            if self.averaging is not None:
                self.averaging.on_fit_continue()
            start = history.records[-1]["epoch"] + 1
            end = start + nb_epochs
        else:
            self.planned_epochs = self.run_epochs if self.run_epochs is not None else nb_epochs
            self.n_samples = n_samples
            self._on_fit_start(n_samples)
            history = TrainingHistory(self.method_name, self.config())
            start, end = 0, nb_epochs
            if resume_from is not None:
                history, start = resume_trainer(self, resume_from, scheduler, n_samples)
        self.history = history
        self.stop_reason = None
        elapsed = history.records[-1]["elapsed_seconds"] if history.records else 0.0
        epochs = tqdm(range(start, end), desc=self.method_name, disable=not self.verbose, unit="epoch")
        for epoch in epochs:
            record: Dict[str, Any] = {"epoch": epoch, "lr": float(self.optimizer.param_groups[0]["lr"])}
            before = self.counter.snapshot()
            meter = EpochMeter(self.device)
            saved = self._weights_snapshot()
            try:
                timer = self._epoch(epoch, record, batches, n_batches, meter, opts)
            except Exception:
                self._restore_weights(saved)  # a failed epoch leaves the weights as they were at its start
                if self.averaging is not None:
                    self.averaging.load_state_dict(saved[2])
                raise
            spent = self.counter.since(before)
            passes = torch.tensor([spent.training_forward(), spent.training_backward()], dtype=torch.float64)
            if self.shard is not None:  # the global count: every rank's passes
                distributed.all_reduce_sum(passes)
            elapsed += timer.seconds
            record.update(seconds=timer.seconds, elapsed_seconds=elapsed, forward_passes=int(passes[0]),
                          backward_passes=int(passes[1]))
            if opts.validation is not None:
                record.update(self._validate(*opts.validation, opts.validation_max_iter))
            history.append(record)
            if opts.checkpoint_path is not None:
                self.save_checkpoint(opts.checkpoint_path, scheduler)
            self._random_states = RandomStates.now(self.device)  # what the checkpoint holds
            epochs.set_postfix({k: record[k] for k in self.progress_keys if k in record}, refresh=False)
            if opts.after.after(self, record, scheduler) or self.stop_reason is not None:
                break
        opts.after.close()
        if self.averaging is not None:
            self.averaging.on_fit_end()
        self.network.model.eval()
        return history

    def _epoch(self, epoch, record, batches, n_batches, meter, opts: FitOptions):
        """One epoch: the parts' epoch start, every batch, the scheduler, the parts' epoch end; its timer."""
        with Timer(self.device) as timer:
            record.update(self._on_epoch_start(epoch))
            inner = tqdm(batches(epoch), total=n_batches, leave=False, disable=not self.verbose, unit="batch")
            for batch in inner:
                if self.augmentation is not None:
                    batch.aug = self.augmentation.sample(batch.x.shape[0], batch.x.device)
                    batch.x = self.augmentation.apply(batch.x, batch.aug)
                out = self.objective.train_batch(batch)
                meter.add(out, batch.y)
                for part in self._batch_parts:
                    part.on_batch_end(batch, out)
                opts.step_batch()
            if self.shard is not None:  # global metrics: one collective per epoch
                count = torch.tensor([float(meter.count)], device=self.device)
                distributed.all_reduce_sum(meter.loss, meter.correct, count)
                meter.count = int(count.item())
            record.update(meter.read())
            if not math.isfinite(record["loss"]):
                raise FloatingPointError(
                    f"epoch {epoch}: the training loss is {record['loss']} (diverged: learning rate too high?); "
                    f"training stopped, the weights are those of the start of epoch {epoch}, no checkpoint was "
                    "written for it")
            opts.step_epoch(record["loss"])
            record.update(self._on_epoch_end(epoch, record))
        return timer

    def _weights_snapshot(self) -> Tuple[Dict[str, torch.Tensor], Dict[str, Any]]:
        """Copies of the model's and the optimizer's state (and the average's) restored if the epoch fails."""
        return ({k: v.detach().clone() for k, v in self.network.model.state_dict().items()},
                copy.deepcopy(self.optimizer.state_dict()),
                None if self.averaging is None else copy.deepcopy(self.averaging.state_dict()))

    def _restore_weights(self, saved) -> None:
        self.network.model.load_state_dict(saved[0])
        self.optimizer.load_state_dict(saved[1])

    def save_checkpoint(self, path: str, scheduler: Optional[Any] = None) -> None:
        """
        Save the model, optimizer, LR scheduler, history, the method's state and the RNG states after the last
        finished epoch, so that ``fit(..., resume_from=path)`` continues where this left off. The file loads
        with ``torch.load(..., weights_only=True)`` and carries a checksum (:mod:`art_accel.checkpoint`);
        non-finite weights are never written.
        """
        payload = checkpoint_payload(self, scheduler)
        if self.shard is None or self.shard[0] == 0:
            write_checkpoint(path, payload)
        if self.shard is not None:
            torch.distributed.barrier()

    def _validate(self, x: torch.Tensor, y: torch.Tensor, max_iter: int) -> Dict[str, float]:
        """Clean and PGD-``max_iter`` accuracy at the run's budget (also while a schedule ramps the training eps):
        of the averaged model when averaging is on (the live model's as ``val_live_*``)."""
        def measure():
            return validation_accuracy(self.network, x, y, self.target_eps, max_iter)

        return measure() if self.averaging is None else self.averaging.validated(measure)
