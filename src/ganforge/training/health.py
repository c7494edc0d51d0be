"""The training-health monitor: notice when a GAN run goes wrong, say what it means, plan a recovery.

Four failure modes, each judged on numbers the trainer already has:

- **Divergence and spikes.** A NaN or infinite value is divergence, at once. A loss or
  gradient norm more than ``spike_factor`` times its running median (the last
  ``baseline_steps`` steps of log lines) is a spike: the usual prelude to divergence
  (Brock et al. 2019, "BigGAN", sec. 4: training collapse follows a sudden growth of the
  weights' top singular values, which shows in losses and gradient norms).
  A median, not a mean, so one spike cannot raise its own bar; spiking values stay out of
  the baseline for the same reason. A value must also exceed the highest median the run
  has had since warm-up: as a GAN settles (and more so under a decaying learning rate) its
  gradient norms can fall a hundredfold, and a return to a level the run once lived
  through as normal is noise around equilibrium, not a prelude to divergence.
- **D dominance.** When the mean ``D(real) - D(fake)`` gap stays above ``d_gap`` while
  G's loss climbs, D separates real from fake with confidence and G's gradients vanish
  or point nowhere useful (Goodfellow et al. 2014; Arjovsky & Bottou 2017, "Towards
  Principled Methods for Training GANs"); R1 (Mescheder et al. 2018) and augmentation
  (Karras et al. 2020, "ADA") are the usual cures.
- **Mode collapse.** The mean pairwise distance of G's outputs for a fixed probe batch of
  latents, against the same measure on real data, falls when G maps many latents to a few
  outputs (closeness of samples within a batch as the sign of collapse, Salimans et al.
  2016, "minibatch discrimination"; near-duplicates, Arora & Zhang 2017); for labelled data the entropy of the class histogram of generated
  images under a classifier (the mode-count protocol of Srivastava et al. 2017, "VEEGAN",
  and Lin et al. 2018, "PacGAN") falls too.
- **Stall.** Periodic FID that has not improved for ``stall_evals`` evaluations.

:class:`HealthMonitor` turns those numbers into :class:`HealthEvent` s; it keeps no tensors
and its state is plain JSON. :class:`RecoveryPlan` says, for the ``recover`` policy, which
knobs to change on each retry and what to tell the user when retries run out. The trainer
applies both; nothing here touches a model.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Sequence


from ..config import HealthConfig

# Event kinds (the "kind" of a log.jsonl health record).
DIVERGENCE = "divergence"
SPIKE = "spike"
D_DOMINATES = "d_dominates"
MODE_COLLAPSE = "mode_collapse"
STALL = "stall"
KINDS = (DIVERGENCE, SPIKE, D_DOMINATES, MODE_COLLAPSE, STALL)

# Log-entry keys with a running baseline. Losses are judged by magnitude (abs), since
# hinge and WGAN losses can be negative.
SPIKE_KEYS = ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g")

# Smallest baseline a spike is measured against, per key. A hinge D loss near 0 or a WGAN
# loss crossing 0 has a median near 0, and any value would then be "many times" it; below
# these floors a change is not a spike but noise around zero. Losses are O(1) nats or
# margins; gradient norms of healthy small nets are O(0.1..10).
SPIKE_FLOORS = {"loss_d": 0.1, "loss_g": 0.1, "grad_norm_d": 1e-2, "grad_norm_g": 1e-2}

# A median of fewer log lines than this is not a baseline: with log_every larger than
# baseline_steps the window still keeps this many lines, and nothing is judged before.
MIN_BASELINE_LOGS = 3

STATE_VERSION = 1


def judged_numbers(entry: dict[str, Any], scores_have_scale: bool = True) -> dict[str, Any]:
    """The numbers of a training log line that :meth:`HealthMonitor.observe_log` judges:
    losses, gradient norms and D(real)/D(fake), the last two left out when D's scores have no
    fixed scale to compare ``d_gap`` with (a Wasserstein estimate: the loss says so through
    ``AdversarialLoss.scores_have_scale``)."""
    keep = SPIKE_KEYS + ("d_real", "d_fake") if scores_have_scale else SPIKE_KEYS
    return {k: v for k, v in entry.items() if k in keep}


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _arm_level(floor: float) -> float:
    """Halfway from a collapse floor to the real data's level (1): a probe measure must once
    reach it before a fall below the floor counts as collapse."""
    return (1.0 + floor) / 2


def _json_number(x: float) -> float | str:
    """JSON has no NaN or infinity: non-finite values are written as "nan", "inf", "-inf"."""
    return x if math.isfinite(x) else str(x)


@dataclass(frozen=True)
class HealthEvent:
    """One finding of the monitor.

    ``kind`` is one of :data:`KINDS`; ``message`` is one line a person understands (the
    numbers and what they mean); ``values`` holds the numbers behind it.
    """

    kind: str
    step: int
    kimg: float
    message: str
    values: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown health event kind {self.kind!r}; known: {', '.join(KINDS)}")
        if "\n" in self.message:
            raise ValueError("a health event message must be one line")

    @property
    def severe(self) -> bool:
        """The run is broken now (divergence, spike, D dominance, collapse): ``recover`` rolls back.

        A stall is not severe: nothing is broken, progress has stopped. It already waited
        ``stall_evals`` evaluations before firing, so under ``recover`` the trainer may act
        on it too (new knobs from the best checkpoint); under ``warn`` it is information.
        """
        return self.kind != STALL

    def to_record(self) -> dict[str, Any]:
        """The ``log.jsonl`` line: ``{"event": "health", "kind", "step", "kimg", "severe", "message", "values"}``.

        ``values`` stays nested so TensorBoard (which plots a record's top-level numbers)
        does not mix them with the training curves; non-finite numbers become strings.
        """
        return {
            "event": "health", "kind": self.kind, "step": self.step, "kimg": self.kimg, "severe": self.severe,
            "message": self.message, "values": {k: _json_number(float(v)) for k, v in self.values.items()},
        }


class HealthMonitor:
    """Judges log lines, diversity probes and periodic FIDs of one run (see the module docstring).

    ``observe_log`` / ``observe_probe`` / ``observe_eval`` each return the events their
    numbers raise (usually none). Warm-up: in log lines of the first ``cfg.warmup_steps``
    steps (and again after :meth:`reset`) only non-finite values are judged, since early GAN
    losses swing widely; probes have their own guard (see :meth:`observe_probe`). A spike or
    D dominance fires once when it starts and again only after it has cleared, so a lasting
    condition is one event, not one per log line; collapse and stall are judged afresh at
    every probe and evaluation, which are infrequent.
    """

    def __init__(self, cfg: HealthConfig, *, scaled_grads: bool = False) -> None:
        """``scaled_grads``: training uses fp16 with a GradScaler, whose overflow steps leave
        infinite gradients that the scaler skips; a non-finite gradient norm is then ignored
        rather than reported as divergence (non-finite losses still are)."""
        self.cfg = cfg
        self.scaled_grads = scaled_grads
        self.reference: float | None = None  # probe diversity of real data
        self.best_fid = math.inf
        self.best_step: int | None = None
        self.reset()
        self._origin: int | None = 0  # warm-up counts from step 0 at the start of a run

    # ------------------------------------------------------------------------------ state

    def reset(self) -> None:
        """Forget baselines, streaks, latches and the probe's best (after a rollback: the
        restored G must look healthy again before a fall counts); keep the real-data
        reference and the best FID. Warm-up restarts at the next log line."""
        self._baselines: dict[str, deque[tuple[int, float]]] = {k: deque() for k in SPIKE_KEYS}
        self._peaks: dict[str, float] = {}  # highest judged median per key since warm-up
        self._spiking: set[str] = set()
        self._dominance_streak = 0
        self._dominance_fired = False
        self._evals_since_best = 0
        self._probe_best: dict[str, float] = {}  # best probe "ratio" and "entropy" since the start or reset
        self._origin = None

    def state_dict(self) -> dict[str, Any]:
        """Plain numbers and lists (JSON-serialisable): a resumed monitor decides as this one would."""
        return {
            "version": STATE_VERSION,
            "origin": self._origin,
            "baselines": {k: [[s, v] for s, v in q] for k, q in self._baselines.items()},
            "peaks": dict(self._peaks),
            "spiking": sorted(self._spiking),
            "dominance_streak": self._dominance_streak,
            "dominance_fired": self._dominance_fired,
            "reference": self.reference,
            "best_fid": self.best_fid if math.isfinite(self.best_fid) else None,
            "best_step": self.best_step,
            "evals_since_best": self._evals_since_best,
            "probe_best": dict(self._probe_best),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; a damaged state raises KeyError, TypeError or ValueError."""
        if state["version"] != STATE_VERSION:
            raise ValueError(f"health monitor state version {state['version']} is not {STATE_VERSION}")
        self._origin = None if state["origin"] is None else int(state["origin"])
        self._baselines = {k: deque((int(s), float(v)) for s, v in state["baselines"].get(k, [])) for k in SPIKE_KEYS}
        # States written before peaks were kept have none: they are rebuilt from here on.
        self._peaks = {str(k): float(v) for k, v in state.get("peaks", {}).items()}
        self._spiking = {str(k) for k in state["spiking"]}
        self._dominance_streak = int(state["dominance_streak"])
        self._dominance_fired = bool(state["dominance_fired"])
        self.reference = None if state["reference"] is None else float(state["reference"])
        self.best_fid = math.inf if state["best_fid"] is None else float(state["best_fid"])
        self.best_step = None if state["best_step"] is None else int(state["best_step"])
        self._evals_since_best = int(state["evals_since_best"])
        self._probe_best = {str(k): float(v) for k, v in state["probe_best"].items()}

    # ------------------------------------------------------------------------------ helpers

    def _warmed_up(self, step: int) -> bool:
        if self._origin is None:
            self._origin = step
        return step - self._origin > self.cfg.warmup_steps

    def _where(self, step: int, kimg: float) -> str:
        return f"step {step} (kimg {kimg:.1f})"

    def _divergence(self, step: int, kimg: float, bad: dict[str, float]) -> HealthEvent:
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        return HealthEvent(
            DIVERGENCE, step, kimg,
            f"divergence at {self._where(step, kimg)}: {names} (NaN or infinite); the run has diverged and "
            "cannot continue from here",
            dict(bad),
        )

    def _prune(self, key: str, step: int) -> None:
        q = self._baselines[key]
        while len(q) > MIN_BASELINE_LOGS and q[0][0] <= step - self.cfg.baseline_steps:
            q.popleft()

    def _median(self, key: str, *, magnitude: bool) -> float | None:
        q = self._baselines[key]
        if len(q) < MIN_BASELINE_LOGS:
            return None
        return statistics.median(abs(v) if magnitude else v for _, v in q)

    # ------------------------------------------------------------------------------ observers

    def observe_log(self, step: int, kimg: float, entry: dict[str, float]) -> list[HealthEvent]:
        """Judge one ``log.jsonl`` training line (means over ``train.log_every`` steps).

        Args:
            step, kimg: where training is.
            entry: the logged numbers; ``loss_d``, ``loss_g``, ``grad_norm_d``,
                ``grad_norm_g``, ``d_real`` and ``d_fake`` are used when present, and every
                number is checked for NaN/infinity.
        """
        numbers = {k: float(v) for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        bad = {k: v for k, v in numbers.items()
               if not math.isfinite(v) and not (self.scaled_grads and k.startswith("grad_norm"))}
        if bad:
            return [self._divergence(step, kimg, bad)]
        judged = self._warmed_up(step)
        for key in SPIKE_KEYS:
            self._prune(key, step)
        events: list[HealthEvent] = []
        # Both judgements use the baselines as they were before this line.
        spike = self._judge_spikes(step, kimg, numbers, judged)
        if spike is not None:
            events.append(spike)
        dominance = self._judge_dominance(step, kimg, numbers, judged)
        if dominance is not None:
            events.append(dominance)
        for key in SPIKE_KEYS:
            value = numbers.get(key)
            if value is not None and math.isfinite(value) and key not in self._spiking:
                self._baselines[key].append((step, value))
        return events

    def _judge_spikes(self, step: int, kimg: float, numbers: dict[str, float], judged: bool) -> HealthEvent | None:
        """``|x| > spike_factor * max(median |x| over the baseline, floor)`` and ``|x|`` above
        the highest such median since warm-up, per key."""
        factor = self.cfg.spike_factor
        new: dict[str, tuple[float, float]] = {}
        for key in SPIKE_KEYS:
            value = numbers.get(key)
            median = self._median(key, magnitude=True)
            if value is None or not math.isfinite(value) or not judged or median is None:
                self._spiking.discard(key)
                continue
            peak = self._peaks[key] = max(self._peaks.get(key, 0.0), median)
            base = max(median, SPIKE_FLOORS[key])
            if abs(value) > factor * base and abs(value) > peak:
                if key not in self._spiking:
                    new[key] = (value, base)
                self._spiking.add(key)
            else:
                self._spiking.discard(key)
        if not new:
            return None
        parts = "; ".join(f"{k} {_fmt(v)} is {abs(v) / b:.1f}x its running baseline {_fmt(b)}"
                          for k, (v, b) in new.items())
        values = {"factor": factor}
        for k, (v, b) in new.items():
            values[k] = v
            values[f"{k}_baseline"] = b
        return HealthEvent(
            SPIKE, step, kimg,
            f"spike at {self._where(step, kimg)}: {parts} (threshold {factor:g}x); "
            "sudden jumps like this usually precede divergence",
            values,
        )

    def _judge_dominance(self, step: int, kimg: float, numbers: dict[str, float], judged: bool) -> HealthEvent | None:
        """``d_real - d_fake > d_gap`` and ``loss_g`` above its running median, ``dominance_logs``
        lines in a row. The median is of signed values: a hinge or WGAN G loss climbs from below 0."""
        cfg = self.cfg
        median_g = self._median("loss_g", magnitude=False)
        if judged and median_g is not None and {"d_real", "d_fake", "loss_g"} <= numbers.keys():
            gap = numbers["d_real"] - numbers["d_fake"]
            dominating = gap > cfg.d_gap and numbers["loss_g"] > median_g
        else:
            dominating = False
        if not dominating:
            self._dominance_streak, self._dominance_fired = 0, False
            return None
        self._dominance_streak += 1
        if self._dominance_streak < cfg.dominance_logs or self._dominance_fired:
            return None
        self._dominance_fired = True
        loss_g = numbers["loss_g"]
        return HealthEvent(
            D_DOMINATES, step, kimg,
            f"D dominates at {self._where(step, kimg)}: D(real) - D(fake) = {_fmt(gap)} > {cfg.d_gap:g} for "
            f"{self._dominance_streak} log lines while the G loss climbs ({_fmt(loss_g)} vs running median "
            f"{_fmt(median_g)}); D wins too easily and G gets little useful gradient",
            {"gap": gap, "d_real": numbers["d_real"], "d_fake": numbers["d_fake"], "loss_g": loss_g,
             "loss_g_baseline": median_g, "d_gap": cfg.d_gap, "logs": float(self._dominance_streak)},
        )

    def set_reference(self, diversity: float) -> None:
        """The real data's probe diversity (:func:`mean_pairwise_distance` of
        :func:`probe_features` of a real batch of the probe's size)."""
        if not (math.isfinite(diversity) and diversity > 0):
            raise ValueError(f"reference diversity must be a positive finite number, got {diversity}")
        self.reference = float(diversity)

    def observe_probe(
        self, step: int, kimg: float, diversity: float, class_entropy: float | None = None
    ) -> list[HealthEvent]:
        """Judge one diversity probe of G (the same fixed latents every time).

        Args:
            diversity: :func:`mean_pairwise_distance` of the probe's :func:`probe_features`;
                compared with :meth:`set_reference` as ``ratio = diversity / reference``
                (skipped until a reference is set).
            class_entropy: :func:`normalized_entropy` of the classes of the probe's outputs
                (classifier labels, or :func:`nearest_mode` for 2D mixtures), or None.

        Collapse is a *fall*: each measure is judged only after some earlier probe (since
        the start or the last :meth:`reset`) looked healthy, i.e. reached halfway from its
        floor to the real data's level (ratio >= ``(1 + collapse_ratio) / 2``, entropy >=
        ``(1 + entropy_floor) / 2``). An untrained G maps every latent to nearly the same
        blob (ratio ~0.1 and entropy 0 under fashion-cnn at 5 kimg of fashion-dcgan) and is
        not collapsed, just unformed; the margin keeps a measure that wavers around its floor
        on the way up from firing.
        """
        numbers = {"diversity": float(diversity)}
        if class_entropy is not None:
            numbers["class_entropy"] = float(class_entropy)
        bad = {k: v for k, v in numbers.items() if not math.isfinite(v)}
        if bad:
            return [self._divergence(step, kimg, bad)]
        cfg = self.cfg
        reasons: list[str] = []
        values = dict(numbers)
        if self.reference is not None:
            ratio = numbers["diversity"] / self.reference
            values.update(reference=self.reference, ratio=ratio)
            best = self._probe_best.get("ratio")
            if best is not None and best >= _arm_level(cfg.collapse_ratio) and ratio < cfg.collapse_ratio:
                values["best_ratio"] = best
                reasons.append(
                    f"probe diversity {_fmt(numbers['diversity'])} is {ratio:.2f} of the real data's "
                    f"{_fmt(self.reference)} (floor {cfg.collapse_ratio:g}, it reached {best:.2f})"
                )
            self._probe_best["ratio"] = max(ratio, best if best is not None else ratio)
        if class_entropy is not None:
            entropy = numbers["class_entropy"]
            best = self._probe_best.get("entropy")
            if best is not None and best >= _arm_level(cfg.entropy_floor) and entropy < cfg.entropy_floor:
                values.update(entropy_floor=cfg.entropy_floor, best_entropy=best)
                reasons.append(
                    f"class entropy {entropy:.2f} < {cfg.entropy_floor:g} "
                    f"(it reached {best:.2f}; 1 = all classes equally often)"
                )
            self._probe_best["entropy"] = max(entropy, best if best is not None else entropy)
        if not reasons:
            return []
        return [HealthEvent(
            MODE_COLLAPSE, step, kimg,
            f"mode collapse at {self._where(step, kimg)}: {'; '.join(reasons)}; G maps many latents to few outputs",
            values,
        )]

    def observe_eval(self, step: int, kimg: float, fid: float) -> list[HealthEvent]:
        """Judge one periodic FID: a stall after ``stall_evals`` evaluations in a row without a
        new best (strictly lower FID); the count then starts again."""
        fid = float(fid)
        if not math.isfinite(fid):
            return [self._divergence(step, kimg, {"fid": fid})]
        if fid < self.best_fid:
            self.best_fid, self.best_step, self._evals_since_best = fid, step, 0
            return []
        self._evals_since_best += 1
        if self._evals_since_best < self.cfg.stall_evals:
            return []
        n, self._evals_since_best = self._evals_since_best, 0
        return [HealthEvent(
            STALL, step, kimg,
            f"stall at {self._where(step, kimg)}: FID {_fmt(fid)} has not beaten the best {_fmt(self.best_fid)} "
            f"(step {self.best_step}) in {n} evaluation{'s' if n != 1 else ''}; training is no longer making progress",
            {"fid": fid, "best_fid": self.best_fid, "best_step": float(self.best_step), "evals": float(n)},
        )]


# ---------------------------------------------------------------------------------- recovery


class RecoveryPlan:
    """What the ``recover`` policy changes on each retry, and what to say when retries run out.

    ``knobs(retry)`` is absolute, relative to the run's configured values, so a resumed run
    needs only the retry count. Each retry (after rolling back to the last healthy
    checkpoint):

    - multiplies both learning rates by ``lr_factor`` once more: smaller steps are the
      first cure for spikes and divergence, and lowering both keeps their ratio (the
      two-time-scale balance of Heusel et al. 2017, "TTUR");
    - multiplies the R1 weight by ``r1_factor`` (Mescheder et al. 2018: penalising D's
      gradient on real data makes GAN training locally convergent); from 0 it starts at
      ``1e-2 * r1_factor``, next to the ``gamma = 0.01`` StyleGAN2-ADA uses for 32 px
      CIFAR-10;
    - raises the floor of the augmentation probability by ``augment_step`` (ADA, Karras et
      al. 2020: augmentation keeps an overfitting D from dominating).
    """

    R1_START = 1e-2  # R1 weight "before the first multiplication" when the run had none

    def __init__(self, cfg: HealthConfig, *, r1_gamma: float) -> None:
        """``r1_gamma``: the run's configured ``loss.r1_gamma``."""
        self.cfg = cfg
        self.r1_gamma = float(r1_gamma)

    def next_r1(self, current: float) -> float:
        """The R1 weight after one more retry: ``current * r1_factor``, or ``1e-2 * r1_factor`` from 0."""
        return (current if current > 0 else self.R1_START) * self.cfg.r1_factor

    def knobs(self, retry: int) -> dict[str, float]:
        """Settings for the ``retry``-th recovery (1 = first; 0 = the configured run).

        Returns ``{"g_lr_factor", "d_lr_factor"}``: multiply the configured ``train.g_lr`` /
        ``train.d_lr`` by these; ``"r1_gamma"``: the R1 weight to use; ``"augment_p_floor"``:
        the augmentation probability must not fall below this.
        """
        if retry < 0:
            raise ValueError(f"retry must be >= 0, got {retry}")
        gamma = self.r1_gamma
        for _ in range(retry):
            gamma = self.next_r1(gamma)
        lr = self.cfg.lr_factor**retry
        return {"g_lr_factor": lr, "d_lr_factor": lr, "r1_gamma": gamma,
                "augment_p_floor": min(1.0, retry * self.cfg.augment_step)}

    def exhausted(self, retries: int) -> bool:
        """True when ``retries`` rollbacks have used up ``max_retries``: stop with :meth:`diagnosis`."""
        return retries >= self.cfg.max_retries

    def diagnosis(self, events: Sequence[HealthEvent]) -> str:
        """One line for the user when training stops: what went wrong, what was tried, what to try.

        ``events``: the events that led to the rollbacks and the stop, oldest first.
        """
        if not events:
            raise ValueError("diagnosis needs the events that stopped training")
        last = events[-1]
        counts: dict[str, int] = {}
        for e in events:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        seen = ", ".join(f"{n} x {k}" for k, n in counts.items())
        retries = self.cfg.max_retries
        tried = ""
        if retries:
            k = self.knobs(retries)
            tried = (f" The last retry already ran with learning rates x{k['g_lr_factor']:g}, "
                     f"R1 weight {k['r1_gamma']:g} and augmentation probability >= {k['augment_p_floor']:g}.")
        advice = []
        if counts.keys() & {DIVERGENCE, SPIKE}:
            advice.append("lower train.g_lr and train.d_lr further")
            advice.append("raise loss.r1_gamma")
            advice.append("set model.spectral_norm=true")
            advice.append("use train.precision=fp32 if it was fp16")
        if D_DOMINATES in counts:
            advice.append("lower train.d_lr relative to train.g_lr")
            advice.append("use augment.kind=ada (D overfits small data sets) or a smaller discriminator")
        if MODE_COLLAPSE in counts:
            advice.append("set model.minibatch_std=true or model.pack=2 (PacGAN)")
            advice.append("raise loss.r1_gamma")
        if STALL in counts:
            advice.append("the model may have converged for its size: compare checkpoints/best, or try a "
                          "larger model or lower learning rates")
        advice = list(dict.fromkeys(advice))
        return (f"training stopped at step {last.step} (kimg {last.kimg:.1f}) after {retries} recoveries "
                f"(health.max_retries={retries}); events: {seen}; last: {last.message}.{tried} "
                f"Try: {'; '.join(advice)}.")
