"""Exporting the best trial's configuration.

A trial stores the full config it evaluated (``user_attrs["config"]``), in the schema of
:mod:`gbscore.config`; label policies with tuned bands are JSON specs that
:func:`gbscore.build_pipeline` resolves, so every export runs with ``gbscore run --config``.
"""

from __future__ import annotations

import copy

from ..config import export_config as _write_config
from ..exceptions import ConfigError

__all__ = ["best_config", "export_config"]


def best_config(study):
    """The config of the study's best trial (as stored by the objective).

    Parameters
    ----------
    study : optuna.Study

    Returns
    -------
    dict
        JSON-ready; for a stack study it has a ``"stack"`` section.
    """
    import optuna

    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not completed:
        raise ConfigError(
            f"study {study.study_name!r} has no completed trial yet, so there is no best "
            "config to export; run more trials (or a longer --timeout)"
        )
    trial = study.best_trial
    config = trial.user_attrs.get("config")
    if config is None:
        raise ConfigError(
            f"study {study.study_name!r}: best trial #{trial.number} has no stored config; "
            "was it created by gbscore.tuning?"
        )
    return copy.deepcopy(config)


def export_config(config_or_study, path):
    """Write a config (or a study's best config) as JSON that ``gbscore run --config`` reads.

    Parameters
    ----------
    config_or_study : dict or optuna.Study
    path : str or Path

    Returns
    -------
    Path
    """
    config = config_or_study if isinstance(config_or_study, dict) else best_config(config_or_study)
    return _write_config(config, path)
