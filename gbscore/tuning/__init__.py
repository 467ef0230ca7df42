"""Optuna tuning: search spaces, objectives, study storage, the stack study, the runner.

A study lives in a storage URL and has a name; any number of workers, on any number of
machines, that open the same URL and name share it (``load_if_exists=True``). The default
storage is an SQLite file, so a laptop needs no server.

>>> from gbscore.tuning import tune
>>> result = tune("ridge", n_trials=20, export="best.json")  # doctest: +SKIP
>>> result.best_value  # doctest: +SKIP

Pieces, for custom searches:

* search spaces -- :func:`suggest_params` and :data:`SEARCH_SPACES` (LightGBM, CatBoost,
  Ridge, MLP), :func:`suggest_augment`, :func:`suggest_interact`;
* objectives -- :class:`PipelineObjective` (shift-aware CV RMSE, fold or boosting-round
  pruning), :class:`StackObjective` (meta-learner on cached out-of-fold predictions);
* storage -- :func:`make_storage`, :func:`open_study`, :func:`fail_stale_trials`;
* running -- :func:`run_study`, :class:`StudyProgress`, :func:`make_pruner`;
* configs -- :func:`best_config`, :func:`export_config` (label-policy specs:
  :func:`gbscore.config.label_policy_from_spec`).
"""

from ..config import label_policy_from_spec, label_policy_to_spec
from ._cli import main
from ._config import best_config, export_config
from ._objective import PipelineObjective, data_fingerprint, worker_id
from ._runner import (
    StudyProgress,
    TuneResult,
    finished_trials,
    make_pruner,
    make_sampler,
    run_study,
)
from ._spaces import (
    SEARCH_SPACES,
    default_params,
    suggest_augment,
    suggest_catboost,
    suggest_interact,
    suggest_lightgbm,
    suggest_params,
    suggest_ridge,
)
from ._stack import StackObjective, cached_oof
from ._storage import DEFAULT_STORAGE, fail_stale_trials, make_storage, open_study, redact_url
from ._tune import TuningData, default_stack_configs, load_tuning_data, tune, warm_embeddings

__all__ = [
    "DEFAULT_STORAGE",
    "SEARCH_SPACES",
    "PipelineObjective",
    "StackObjective",
    "StudyProgress",
    "TuneResult",
    "TuningData",
    "best_config",
    "cached_oof",
    "data_fingerprint",
    "default_params",
    "default_stack_configs",
    "export_config",
    "fail_stale_trials",
    "finished_trials",
    "label_policy_from_spec",
    "label_policy_to_spec",
    "load_tuning_data",
    "main",
    "make_pruner",
    "make_sampler",
    "make_storage",
    "open_study",
    "redact_url",
    "run_study",
    "suggest_augment",
    "suggest_catboost",
    "suggest_interact",
    "suggest_lightgbm",
    "suggest_params",
    "suggest_ridge",
    "tune",
    "warm_embeddings",
    "worker_id",
]
