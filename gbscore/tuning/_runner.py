"""Running a study: samplers, pruners, the trial cap across workers, progress, export.

:func:`run_study` is what every worker runs. It joins the study, fails the trials of crashed
workers (heartbeats), then optimizes until the study as a whole has ``n_trials`` finished
(complete or pruned) trials or this worker's ``timeout`` passes. Running it again with the
same storage and study name resumes: finished trials are kept, and only the missing ones run.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ..exceptions import ConfigError
from ._storage import fail_stale_trials, open_study

__all__ = [
    "StudyProgress",
    "TuneResult",
    "make_pruner",
    "make_sampler",
    "run_study",
    "finished_trials",
]

log = logging.getLogger("gbscore")

PRUNERS = ("median", "hyperband", "none")


def make_sampler(seed=None):
    """The TPE sampler. Leave ``seed`` unset when several workers share a study: equal seeds
    would make them propose the same parameters."""
    import optuna

    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(kind="median", *, max_resource, n_startup_trials=5, n_warmup_steps=0):
    """A pruner for intermediate values reported at steps ``0 .. max_resource - 1``.

    Parameters
    ----------
    kind : {"median", "hyperband", "none"}
    max_resource : int
        Number of steps a full trial reports (folds, or boosting rounds).
    n_startup_trials : int, default=5
        Median pruner: trials that finish before any is pruned.
    n_warmup_steps : int, default=0
        Median pruner: steps of a trial that are never pruned.
    """
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps
        )
    if kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max(int(max_resource), 2), reduction_factor=3
        )
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"pruner={kind!r} is not one of {list(PRUNERS)}")


def finished_trials(study):
    """Number of COMPLETE plus PRUNED trials (what the trial cap counts)."""
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


class StudyProgress:
    """Optuna callback drawing a tqdm bar of the *study's* finished trials.

    The count includes other workers' trials; the postfix shows the best value, the number
    of pruned and failed trials, and the time left when there is a timeout. tqdm's ETA comes
    from the rate of finished trials since this worker started.

    Parameters
    ----------
    study : optuna.Study
    n_trials : int or None
        The study's trial cap (the bar's total).
    timeout : float or None
        This worker's time budget in seconds.
    disable : bool, default=False
    """

    def __init__(self, study, *, n_trials=None, timeout=None, disable=False):
        from tqdm.auto import tqdm

        self.n_trials = n_trials
        self.timeout = timeout
        self.start = time.monotonic()
        done = finished_trials(study)
        self.bar = tqdm(
            total=n_trials,
            initial=done,
            desc=f"study {study.study_name}",
            unit="trial",
            disable=disable,
            dynamic_ncols=True,
        )
        self._update(study)

    def _update(self, study):
        import optuna

        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        done = sum(
            s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states
        )
        postfix = {}
        if optuna.trial.TrialState.COMPLETE in states:
            best = study.best_trial
            postfix["best"] = f"{best.value:.4f} (#{best.number})"
        postfix["pruned"] = states.count(optuna.trial.TrialState.PRUNED)
        postfix["failed"] = states.count(optuna.trial.TrialState.FAIL)
        if self.timeout is not None:
            left = max(0.0, self.timeout - (time.monotonic() - self.start))
            postfix["time left"] = time.strftime("%H:%M:%S", time.gmtime(left))
        self.bar.n = min(done, self.n_trials) if self.n_trials else done
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def __call__(self, study, trial):
        self._update(study)

    def close(self):
        self.bar.close()


@dataclass
class TuneResult:
    """What :func:`run_study` (and :func:`~gbscore.tuning.tune`) returns."""

    study: object
    n_run: int
    seconds: float
    export_path: object = None

    @property
    def best_value(self):
        return self.study.best_value

    @property
    def best_config(self):
        from ._config import best_config

        return best_config(self.study)

    def counts(self):
        """Trials of the whole study by state name."""
        out = {}
        for t in self.study.get_trials(deepcopy=False):
            out[t.state.name] = out.get(t.state.name, 0) + 1
        return out


def run_study(
    objective,
    *,
    study_name,
    storage=None,
    n_trials=None,
    timeout=None,
    n_jobs=1,
    sampler=None,
    pruner=None,
    attrs=None,
    show_progress=True,
    callbacks=(),
    catch=(np.linalg.LinAlgError,),
    enqueue=(),
):
    """Join (or create) a study and optimize ``objective`` until the study is done.

    Parameters
    ----------
    objective : callable
        ``objective(trial) -> float``, e.g. a :class:`~gbscore.tuning.PipelineObjective`.
    study_name : str
    storage : str, optuna storage or None
        See :func:`~gbscore.tuning.make_storage`; default an SQLite file.
    n_trials : int, optional
        Cap on the study's finished (complete or pruned) trials, across all workers. A
        resumed study runs only what is missing. Workers that start their last trials at the
        same moment may overshoot by one trial each.
    timeout : float, optional
        Seconds this worker may spend; with neither ``n_trials`` nor ``timeout`` it runs
        until interrupted.
    n_jobs : int, default=1
        Trials this worker runs in parallel (threads).
    sampler, pruner : optional
        Optuna sampler and pruner; default TPE and no pruning.
    attrs : dict, optional
        Study attributes that must match when joining (see
        :func:`~gbscore.tuning.open_study`).
    show_progress : bool, default=True
        Draw a :class:`StudyProgress` bar.
    callbacks : sequence of callables
        Extra Optuna callbacks.
    catch : tuple of exception classes, default=(numpy.linalg.LinAlgError,)
        Errors that fail one trial without stopping the worker (a parameter combination
        whose linear algebra does not converge is a bad trial, not a broken study).
    enqueue : sequence of dict
        Parameters of the first trials of a *new* study (e.g.
        :func:`~gbscore.tuning.default_params`, so the untuned pipeline is scored first);
        ignored when the study already has trials.

    Returns
    -------
    TuneResult
    """
    import optuna

    if n_trials is not None and n_trials < 1:
        raise ConfigError(f"n_trials must be >= 1, got {n_trials}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"timeout must be > 0 seconds, got {timeout}")
    if n_jobs == 0 or n_jobs < -1:
        raise ConfigError(f"n_jobs must be a positive number of threads or -1, got {n_jobs}")
    if pruner is None:
        pruner = optuna.pruners.NopPruner()  # Optuna's own default would be a median pruner
    study = open_study(study_name, storage, sampler=sampler, pruner=pruner, attrs=attrs)
    fail_stale_trials(study)
    if enqueue and not study.get_trials(deepcopy=False):
        for params in enqueue:
            # skip_if_exists: workers starting together would otherwise queue it twice
            study.enqueue_trial(params, skip_if_exists=True)
    start = time.perf_counter()
    ran = []  # this worker's finished trials (list.append is atomic across trial threads)
    budget = None
    all_callbacks = [*callbacks, lambda study, trial: ran.append(trial.number)]
    if n_trials is not None:
        done = finished_trials(study)
        if done >= n_trials:
            log.info("study %s already has %d finished trials (cap %d)", study_name, done, n_trials)
            return TuneResult(study=study, n_run=0, seconds=0.0)
        budget = n_trials - done
        all_callbacks.append(
            optuna.study.MaxTrialsCallback(
                n_trials, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
            )
        )
    progress = StudyProgress(study, n_trials=n_trials, timeout=timeout, disable=not show_progress)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.optimize(
                objective,
                n_trials=budget,
                timeout=timeout,
                n_jobs=n_jobs,
                callbacks=[*all_callbacks, progress],
                catch=tuple(catch),
                gc_after_trial=False,
            )
    finally:
        progress.close()
    return TuneResult(study=study, n_run=len(ran), seconds=time.perf_counter() - start)
