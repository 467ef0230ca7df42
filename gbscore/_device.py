"""Where gbscore computes: one ``device`` vocabulary for encoders, the MLP and the boosters.

Every public ``device`` parameter takes ``"auto" | "cpu" | "cuda" | "cuda:N"`` (and ``"mps"``
where the text encoder can use it). ``"gpu"`` is an alias of ``"cuda"``, kept so that older
config files keep working. :func:`resolve_device` turns a requested device into the one that
will be used, in the same vocabulary (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``); the
LightGBM and CatBoost regressors translate that into their own library's words.

``"auto"`` never raises: without a usable GPU it uses the CPU and logs why, once per caller
and reason. An explicitly requested device that cannot be used raises
:class:`~gbscore.exceptions.DeviceUnavailableError`; a value outside the vocabulary raises
:class:`~gbscore.exceptions.ConfigError`.
"""

from __future__ import annotations

import functools
import logging
import re

import numpy as np
from sklearn.utils._param_validation import StrOptions

from .exceptions import ConfigError, DeviceUnavailableError

__all__ = [
    "DEVICE_ALIASES",
    "cuda_available",
    "cuda_index",
    "device_constraint",
    "resolve_device",
]

log = logging.getLogger("gbscore")

#: Accepted spellings that mean another device.
DEVICE_ALIASES = {"gpu": "cuda"}
_NAMES = ("auto", "cpu", "cuda", "gpu")
_CUDA_INDEX = re.compile(r"cuda:(\d+)")
_LIBRARIES = ("torch", "lightgbm", "catboost")


class _DeviceOptions(StrOptions):
    """``StrOptions`` that also accepts ``"cuda:N"``, for ``_parameter_constraints``."""

    def is_satisfied_by(self, val):
        return isinstance(val, str) and (
            val in self.options or _CUDA_INDEX.fullmatch(val) is not None
        )

    def __str__(self):
        return f"{super().__str__()} or 'cuda:N' (N a GPU index; 'gpu' is an alias of 'cuda')"


def device_constraint(*, mps=False):
    """The scikit-learn parameter constraint for a ``device`` parameter.

    Parameters
    ----------
    mps : bool, default=False
        Also accept ``"mps"`` (Apple's Metal backend; the text encoder only).
    """
    return _DeviceOptions(set(_NAMES) | ({"mps"} if mps else set()))


def _accepted(mps):
    words = "'auto', 'cpu', 'cuda', 'cuda:N' (N a GPU index)" + (", 'mps'" if mps else "")
    return f"{words} or 'gpu' (an alias of 'cuda')"


def _canonical(device, *, mps, caller):
    """Check ``device`` against the vocabulary and apply the alias; no probing."""
    ok = isinstance(device, str) and (
        device in _NAMES or (mps and device == "mps") or _CUDA_INDEX.fullmatch(device)
    )
    if not ok:
        who = f"{caller}: " if caller else ""
        raise ConfigError(f"{who}device must be {_accepted(mps)}; got {device!r}.")
    return DEVICE_ALIASES.get(device, device)


def cuda_index(device):
    """``None`` for plain ``"cuda"``, else the ``N`` of ``"cuda:N"``."""
    match = _CUDA_INDEX.fullmatch(device)
    return int(match.group(1)) if match else None


@functools.cache
def _torch_cuda():
    """(number of CUDA devices torch sees, why there are none or "")."""
    try:
        import torch
    except Exception as exc:  # absent or broken torch: no usable GPU, not a crash
        return 0, f"no CUDA device is visible (torch cannot be imported: {exc})"
    try:
        if torch.version.cuda is None:
            build = torch.__version__
            return 0, f"no CUDA device is visible (this torch build, {build}, has no CUDA)"
        if not torch.cuda.is_available():
            return 0, f"no CUDA device is visible (torch {torch.__version__} sees none)"
        return int(torch.cuda.device_count()), ""
    except Exception as exc:  # a driver mismatch surfaces here
        return 0, f"no CUDA device is usable (torch cannot query CUDA: {exc})"


def cuda_available():
    """Whether torch (which sentence-transformers already needs) sees a CUDA device."""
    return _torch_cuda()[0] > 0


@functools.cache
def _lightgbm_gpu(device_id):
    """(whether LightGBM trains on its GPU device ``device_id``, the reason)."""
    import lightgbm as lgb

    params = {"device_type": "gpu", "verbose": -1, "num_iterations": 1}
    if device_id is not None:
        params["gpu_device_id"] = device_id
    try:
        X = np.random.default_rng(0).normal(size=(64, 2))
        lgb.train(params, lgb.Dataset(X, X[:, 0]))
        return True, "LightGBM trained a test round on its GPU device"
    except Exception as exc:  # LightGBMError: built without GPU support / no OpenCL device
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return False, f"LightGBM cannot train on its GPU device ({first})"


def _mps():
    try:
        import torch

        if torch.backends.mps.is_available():
            return True, "torch's MPS backend is available"
        return False, "torch's MPS backend is not available (it needs Apple silicon)"
    except Exception as exc:
        return False, f"torch cannot be imported ({type(exc).__name__}: {exc})"


def _usable(device, library):
    """(whether the canonical ``device`` can be used by ``library``, the reason)."""
    if device == "mps":
        return _mps()
    index = cuda_index(device)
    if library == "lightgbm":
        return _lightgbm_gpu(index)
    # CatBoost's CUDA build is asked through torch too: catboost's own device count prints
    # driver errors to stderr on a machine without a GPU.
    count, why = _torch_cuda()
    if count == 0:
        return False, why
    if index is not None and index >= count:
        return False, f"torch sees only {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
    return True, f"torch sees {count} CUDA device(s)"


def resolve_device(device, *, library="torch", mps=False, caller=None):
    """Turn a requested ``device`` into the device that will be used.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N", "gpu", "mps"}
        ``"gpu"`` is an alias of ``"cuda"``. ``"cuda:N"`` asks for GPU number ``N`` (for
        LightGBM its OpenCL ``gpu_device_id``). ``"mps"`` only when ``mps=True``.
    library : {"torch", "lightgbm", "catboost"}, default="torch"
        What will run on the device: torch and CatBoost need CUDA (asked through torch),
        LightGBM its own GPU device, which is probed once per process with a one-round fit.
    mps : bool, default=False
        Whether the caller can use ``"mps"``.
    caller : str, default=None
        Who asks, for messages and the log line; defaults to ``library``.

    Returns
    -------
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. ``"auto"`` gives ``"cuda"`` when a
        GPU is usable and otherwise ``"cpu"``, logging why at INFO on the ``"gbscore"``
        logger once per caller and reason.

    Raises
    ------
    ConfigError
        ``device`` (or ``library``) is not one of the accepted values.
    DeviceUnavailableError
        An explicitly requested GPU (or MPS) cannot be used here.

    Examples
    --------
    >>> from gbscore import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    if library not in _LIBRARIES:
        raise ConfigError(f"library must be one of {_LIBRARIES}; got {library!r}.")
    asked = device
    device = _canonical(device, mps=mps, caller=caller)
    caller = caller or library
    if device == "cpu":
        return "cpu"
    ok, why = _usable("cuda" if device == "auto" else device, library)
    if device == "auto":
        resolved = "cuda" if ok else "cpu"
        _log_auto(caller, resolved, why)
        return resolved
    if ok:
        return device
    alias = f" (an alias of {device!r})" if asked in DEVICE_ALIASES else ""
    note = (
        " LightGBM's PyPI wheel reaches a GPU through OpenCL (it needs the GPU vendor's OpenCL "
        "driver); its CUDA device needs a source build (cmake -DUSE_CUDA=1)."
        if library == "lightgbm"
        else ""
    )
    raise DeviceUnavailableError(
        f"{caller}: device={asked!r}{alias} was asked for, but {why}. Pass device='auto' (the "
        f"GPU when one is usable, else the CPU) or device='cpu'.{note}"
    )


@functools.cache
def _log_auto(caller, resolved, why):
    log.info("%s: device='auto' resolved to %r because %s.", caller, resolved, why)
