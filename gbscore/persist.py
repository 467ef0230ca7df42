"""Saving and loading fitted models: portable, integrity-checked, optionally signed.

**Portable.** A model file holds no path of the machine it was trained on: :func:`save_model`
stores every estimator's ``cache_dir`` (the embedding cache folder, a machine-local path) as
unset, and :func:`load_model` points them at the loading machine's cache folder
(``cache_dir=``, else ``$GBSCORE_CACHE_DIR``, else ``~/.cache/gbscore/embeddings``).  Encoder
weights are never stored either; they are reloaded offline from the encoder's model name on
first use.

**Checked before it is unpickled.** Model files are pickles, and unpickling runs code chosen
by whoever wrote the file.  So the file starts with a header that gbscore reads first::

    GBSCORE-MODEL
    {"format": "gbscore-model/2", "gbscore_version": ..., "payload": {"bytes": ...,
     "sha256": ..., "encoding": "pickle+zlib"}, "signature": ...}
    <payload: the zlib-compressed pickle>

:func:`load_model` refuses, without unpickling anything, a file that lacks the header (any
other pickle or joblib file, including models of older gbscore versions), is truncated, or
whose payload does not match its sha256.  That catches damaged copies and files gbscore did
not write, not a deliberately forged file: anyone can compute a sha256.  Against forgery, set
the environment variable ``GBSCORE_MODEL_KEY`` to a secret shared by the machines that train
and predict: :func:`save_model` then signs the header with HMAC-SHA256, and
:func:`load_model` refuses any file whose signature is missing or wrong.  Without a key,
load only model files you created yourself or got from someone you trust, exactly as you
would only run their Python scripts.

(skops' trusted-types loading was considered and not used: gbscore models hold LightGBM and
CatBoost boosters, imbalanced-learn pipelines and pandas frames, which skops cannot persist
or would have to be listed as trusted anyway, so it would add a dependency without making
the load safer.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import platform
import zlib
from collections.abc import Mapping
from pathlib import Path

from sklearn.base import BaseEstimator

from ._io import atomic_write
from .exceptions import ModelFileError

__all__ = ["load_model", "read_model_header", "save_model", "MODEL_KEY_ENV"]

_MAGIC = b"GBSCORE-MODEL\n"
_FORMAT = "gbscore-model/2"
_ENCODING = "pickle+zlib"
_MAX_HEADER_BYTES = 1 << 16
#: Environment variable holding the secret that signs and verifies model files.
MODEL_KEY_ENV = "GBSCORE_MODEL_KEY"
# Parameters that name a folder of the machine running the code, never stored in a model.
_MACHINE_LOCAL_PARAMS = ("cache_dir",)


# --------------------------------------------------------------------------------------
# machine-local paths
# --------------------------------------------------------------------------------------


def _reachable_estimators(obj, seen):
    """Yield every estimator reachable from ``obj`` through parameters and fitted attributes.

    Generic on purpose: pipelines (``steps``), meta-estimators holding bases as parameters
    (``estimators=[(name, est)]``) and fitted attributes that are estimators, or dicts,
    lists or tuples of them (``base_estimators_``, ``estimators_``, ``named_estimators_``).
    """
    if id(obj) in seen:
        return
    # Keep a reference: get_params may build fresh containers, whose ids could be reused.
    seen[id(obj)] = obj
    if isinstance(obj, BaseEstimator):
        yield obj
        try:
            children = list(obj.get_params(deep=False).values())
        except Exception:  # noqa: BLE001 - an estimator whose params cannot be read has none
            children = []
        children += [
            value
            for name, value in vars(obj).items()
            if name.endswith("_") and not name.startswith("_")
        ]
    elif isinstance(obj, Mapping):
        children = list(obj.values())
    elif isinstance(obj, list | tuple):
        children = list(obj)
    else:
        return
    for child in children:
        if isinstance(child, BaseEstimator | Mapping | list | tuple):
            yield from _reachable_estimators(child, seen)


def _machine_local(model):
    """Return ``[(estimator, param, value)]`` of every machine-local parameter that is set."""
    found = []
    for estimator in _reachable_estimators(model, {}):
        for param in _MACHINE_LOCAL_PARAMS:
            value = getattr(estimator, param, None)
            if value is not None and param in estimator.get_params(deep=False):
                found.append((estimator, param, value))
    return found


# --------------------------------------------------------------------------------------
# file format
# --------------------------------------------------------------------------------------


def _key():
    key = os.environ.get(MODEL_KEY_ENV)
    return key.encode("utf-8") if key else None


def _signature(key, header):
    unsigned = {k: v for k, v in header.items() if k != "signature"}
    message = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return "hmac-sha256:" + hmac.new(key, message, hashlib.sha256).hexdigest()


def _not_readable(path, why, todo="Copy it again from where it was saved, or retrain it."):
    return ModelFileError(f"{path} is not a readable gbscore model file: {why}. {todo}")


def _read_header(fh, path):
    magic = fh.read(len(_MAGIC))
    if magic != _MAGIC:
        raise _not_readable(
            path,
            "it does not start with gbscore's model header, so it was not written by "
            "gbscore.save_model (model files of older gbscore versions were plain joblib "
            "files; they are not loaded because they could only be checked by unpickling "
            "them, which runs any code they hold)",
            "Pass a model written by `gbscore train` or gbscore.save_model, or retrain.",
        )
    line = fh.readline(_MAX_HEADER_BYTES)
    try:
        header = json.loads(line.decode("utf-8"))
        payload = header["payload"]
        declared = (header["format"], payload["encoding"], payload["bytes"], payload["sha256"])
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise _not_readable(path, f"its header is damaged ({type(exc).__name__}: {exc})") from exc
    if declared[0] != _FORMAT or declared[1] != _ENCODING:
        raise ModelFileError(
            f"{path} is a gbscore model file of format {declared[0]!r} ({declared[1]!r}), "
            f"written by gbscore {header.get('gbscore_version')}; this gbscore reads "
            f"{_FORMAT!r}. Load it with that gbscore version, or retrain."
        )
    if not isinstance(declared[2], int) or not isinstance(declared[3], str):
        raise _not_readable(path, "its header declares no valid payload size and checksum")
    return header


def read_model_header(path):
    """Return the header of a model file, without unpickling anything.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    header : dict
        ``{"format", "gbscore_version", "python", "payload": {"encoding", "bytes",
        "sha256"}, "signature"}``; ``signature`` is None for an unsigned file.

    Raises
    ------
    ModelFileError
        If the file is missing or does not start with a valid gbscore header.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(
            f"model file {path} does not exist; check the path, or train one with "
            "`gbscore train --model-out PATH`."
        )
    with open(path, "rb") as fh:
        return _read_header(fh, path)


def save_model(model, path, *, metadata=None):
    """Write a fitted model and a metadata dict to ``path`` atomically.

    Machine-local folders (every estimator's ``cache_dir``, found through parameters and
    fitted attributes, e.g. the bases of a stack) are not stored: :func:`load_model` sets
    them on the machine that loads the file.  ``model`` itself is left as it was.  When
    ``$GBSCORE_MODEL_KEY`` is set, the file is signed with it.

    Parameters
    ----------
    model : estimator
        A fitted model.
    path : str or path-like
        Where to write; parent folders are created.
    metadata : dict, optional
        Anything picklable, returned by :func:`load_model` beside the model.

    Returns
    -------
    path : Path
    """
    from ._version import __version__

    local = _machine_local(model)
    for estimator, param, _ in local:
        setattr(estimator, param, None)
    try:
        payload = pickle.dumps(
            {
                "model": model,
                "metadata": dict(metadata or {}),
                # Pickle keeps object identity, so these are the estimators inside "model".
                "cache_dir_owners": [est for est, param, _ in local if param == "cache_dir"],
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ModelFileError(
            f"cannot save the model to {path}: part of it cannot be pickled "
            f"({type(exc).__name__}: {exc}). Replace lambdas and local functions in the "
            "model by module-level functions."
        ) from exc
    finally:
        for estimator, param, value in local:
            setattr(estimator, param, value)
    payload = zlib.compress(payload, 3)
    header = {
        "format": _FORMAT,
        "gbscore_version": __version__,
        "python": platform.python_version(),
        "payload": {
            "encoding": _ENCODING,
            "bytes": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        },
        "signature": None,
    }
    key = _key()
    if key is not None:
        header["signature"] = _signature(key, header)
    line = json.dumps(header, sort_keys=True).encode("utf-8") + b"\n"

    def write(fh):
        fh.write(_MAGIC)
        fh.write(line)
        fh.write(payload)

    return atomic_write(Path(path), write)


def load_model(path, *, cache_dir=None):
    """Load a model written by :func:`save_model`, checking the file before unpickling it.

    Parameters
    ----------
    path : str or path-like
        The model file.
    cache_dir : str or path-like, optional
        Embedding cache folder of this machine, given to every estimator that had one when
        the model was saved.  Default: :func:`~gbscore.features.default_cache_dir`
        (``$GBSCORE_CACHE_DIR`` or ``~/.cache/gbscore/embeddings``).

    Returns
    -------
    model : estimator
    metadata : dict

    Raises
    ------
    ModelFileError
        If the file is missing, not written by gbscore, truncated or damaged (checked
        before anything is unpickled), or -- when ``$GBSCORE_MODEL_KEY`` is set -- unsigned
        or signed with another key.
    """
    from .features import default_cache_dir

    path = Path(path)
    header = read_model_header(path)
    with open(path, "rb") as fh:
        _read_header(fh, path)
        payload = fh.read()
    declared = header["payload"]
    if len(payload) < declared["bytes"]:
        raise _not_readable(
            path,
            f"it is truncated: its payload has {len(payload)} of the {declared['bytes']} bytes "
            "gbscore wrote (an interrupted copy or download?)",
        )
    if (
        len(payload) > declared["bytes"]
        or hashlib.sha256(payload).hexdigest() != declared["sha256"]
    ):
        raise _not_readable(
            path,
            "its content does not match the sha256 checksum gbscore wrote in its header, so it "
            "was damaged or changed after it was saved; it was not unpickled",
        )
    key = _key()
    if key is not None:
        signature = header.get("signature")
        if signature is None:
            raise ModelFileError(
                f"{path} is not signed, and {MODEL_KEY_ENV} is set, so only models signed with "
                f"that key are loaded; it was not unpickled. Re-save it with {MODEL_KEY_ENV} "
                "set (if you trust it), or unset the variable to load unsigned files."
            )
        if not hmac.compare_digest(str(signature), _signature(key, header)):
            raise ModelFileError(
                f"{path} fails its signature check: it was signed with another "
                f"{MODEL_KEY_ENV}, or changed after it was signed; it was not unpickled. Use "
                "the key it was saved with, or retrain it."
            )
    try:
        content = pickle.loads(zlib.decompress(payload))
        model, metadata = content["model"], content["metadata"]
        owners = content["cache_dir_owners"]
    except Exception as exc:  # noqa: BLE001 - verified bytes that still fail: other versions
        raise ModelFileError(
            f"{path} passed its checksum but could not be unpickled ({type(exc).__name__}: "
            f"{exc}); it was written by gbscore {header.get('gbscore_version')} on Python "
            f"{header.get('python')}. Load it with those versions, or retrain."
        ) from exc
    directory = str(default_cache_dir() if cache_dir is None else cache_dir)
    for estimator in owners:
        estimator.cache_dir = directory
    return model, metadata
