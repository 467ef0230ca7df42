"""Where studies live: an embedded SQLite file by default, any database URL for many workers.

* ``None`` -> ``sqlite:///gbscore-tuning.db`` in the working directory: no server, and it has
  heartbeats, so a killed local worker's trial is failed and retried on the next start.
* ``sqlite:///PATH``, ``postgresql://USER@HOST:PORT/DB``, ``mysql+pymysql://...`` ->
  :class:`optuna.storages.RDBStorage` with heartbeats. Every worker on every machine that
  opens the same URL and study name joins the same study.
* ``journal:PATH`` or a path ending in ``.log``/``.journal`` -> Optuna's journal file (safe
  for several processes on one file system; no heartbeats, so trials of a killed worker stay
  RUNNING).
"""

from __future__ import annotations

import logging
import re
import warnings

from .._optional import import_optional
from ..exceptions import ConfigError

__all__ = ["DEFAULT_STORAGE", "fail_stale_trials", "make_storage", "open_study", "redact_url"]

log = logging.getLogger("gbscore")

#: The storage used when none is given.
DEFAULT_STORAGE = "sqlite:///gbscore-tuning.db"

# The DB driver used for a URL that names none (``postgresql://`` rather than
# ``postgresql+psycopg2://``); the ``postgres`` extra installs psycopg2.
_DRIVERS = {"postgresql": "psycopg2", "mysql": "pymysql"}


def _with_driver(url):
    """Name the driver in a bare ``postgresql://`` / ``mysql://`` URL, importing it first.

    SQLAlchemy 2.1 would pick psycopg 3 for a bare ``postgresql://``; a missing driver raises
    the error that names the extra to install.
    """
    dialect, sep, rest = url.partition("://")
    if dialect not in _DRIVERS:
        return url
    module = _DRIVERS[dialect]
    import_optional(module, purpose=f"a {dialect} study storage")
    return f"{dialect}+{module}{sep}{rest}"


def redact_url(url):
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", str(url))


def _journal_path(url):
    if url.startswith("journal:"):
        return url[len("journal:") :]
    if "://" not in url and url.endswith((".log", ".journal")):
        return url
    return None


def make_storage(url=None, *, heartbeat_interval=60, grace_period=None, max_retry=3):
    """Open an Optuna storage from a URL.

    Parameters
    ----------
    url : str, optuna storage or None
        See the module docstring; ``None`` means :data:`DEFAULT_STORAGE`. A storage object is
        returned unchanged.
    heartbeat_interval : int or None, default=60
        Seconds between a running trial's heartbeats (database storages only); ``None``
        disables heartbeats.
    grace_period : int, optional
        Seconds without a heartbeat after which a RUNNING trial counts as crashed and is
        marked FAIL by the next worker that starts a trial. Default: twice the interval.
    max_retry : int or None, default=3
        How many times a crashed trial is re-queued with the same parameters (``None``:
        without limit, ``0``: never).

    Returns
    -------
    optuna.storages.BaseStorage
    """
    import optuna

    if url is None:
        url = DEFAULT_STORAGE
    if isinstance(url, optuna.storages.BaseStorage):
        return url
    if not isinstance(url, str) or not url:
        raise ConfigError(f"storage must be a URL or a journal file path, got {url!r}")
    journal = _journal_path(url)
    if journal is not None:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(journal))
    if "://" not in url:
        raise ConfigError(
            f"storage {url!r} is neither a database URL (sqlite:///FILE, "
            "postgresql://USER@HOST:PORT/DB) nor a journal file (journal:FILE or FILE.log)"
        )
    given, url = url, _with_driver(url)
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if heartbeat_interval is not None:
        if heartbeat_interval < 1:
            raise ConfigError(f"heartbeat_interval must be >= 1 second, got {heartbeat_interval}")
        grace_period = grace_period or 2 * heartbeat_interval
        if grace_period <= heartbeat_interval:
            raise ConfigError(
                f"grace_period={grace_period} must exceed heartbeat_interval={heartbeat_interval}"
            )
    callback = None
    if heartbeat_interval is not None and max_retry != 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            callback = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    engine_kwargs = {"pool_pre_ping": True}
    if scheme == "sqlite":
        # Several local workers write the same file: wait for the lock instead of failing.
        engine_kwargs["connect_args"] = {"timeout": 60}
    elif scheme == "postgresql":
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period if heartbeat_interval is not None else None,
                heartbeat_stale_trial_callback=callback,
            )
    except Exception as exc:  # sqlalchemy's OperationalError, ArgumentError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot open the study storage {redact_url(given)}: {first}") from exc


def fail_stale_trials(study):
    """Mark RUNNING trials whose worker stopped sending heartbeats FAIL, and re-queue them.

    Optuna does this before each trial a worker starts; calling it when a worker starts (or
    resumes) a study also catches crashes when no trial is left to run.
    """
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


# What an attribute added after a study was created stood for in that study: its folds had
# no buffer (cv.buffer came later).
_ATTRS_BEFORE_THEY_EXISTED = {"cv_buffer": None}


def open_study(study_name, storage=None, *, sampler=None, pruner=None, attrs=None):
    """Create the study, or join it if it exists (so any number of workers share it).

    Parameters
    ----------
    study_name : str
    storage : str, optuna storage or None
        Passed through :func:`make_storage` (defaults there).
    sampler, pruner : optional
        Optuna sampler and pruner of this worker.
    attrs : dict, optional
        Study user attributes that identify what is tuned (model, objective, data
        fingerprint). They are stored on creation; a worker joining with different values
        gets a :class:`~gbscore.exceptions.ConfigError`, so two different searches never
        mix in one study.

    Returns
    -------
    optuna.Study
    """
    import optuna

    if not study_name or not isinstance(study_name, str):
        raise ConfigError(f"study_name must be a non-empty string, got {study_name!r}")
    storage = make_storage(storage)
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler,
        pruner=pruner,
        direction="minimize",
        load_if_exists=True,
    )
    stored = dict(study.user_attrs)
    if stored and study.trials:
        # A study with trials made before an attribute existed ran with its old meaning.
        stored = {**_ATTRS_BEFORE_THEY_EXISTED, **stored}
    for key, value in (attrs or {}).items():
        if key not in stored:
            study.set_user_attr(key, value)
        elif stored[key] != value:
            raise ConfigError(
                f"study {study_name!r} was created with {key}={stored[key]!r}, but this run has "
                f"{key}={value!r}; use another --study-name for a different search"
            )
    return study
