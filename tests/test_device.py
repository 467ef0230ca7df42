"""One device vocabulary for every estimator: aliases, errors and "auto" on this machine.

Which GPU exists is read from torch and LightGBM themselves, not from gbscore, and tests that
need a machine without one skip where there is one.
"""

import logging

import numpy as np
import pytest

from gbscore import DeviceUnavailableError, GbscoreError, resolve_device
from gbscore._device import device_constraint
from gbscore.exceptions import ConfigError
from gbscore.features import SentenceTransformerEncoder
from gbscore.mlp import MLPScoreRegressor
from gbscore.models import CatBoostScoreRegressor, LightGBMScoreRegressor

torch = pytest.importorskip("torch")

GPU_WORDS = ["cuda", "gpu", "cuda:0", "cuda:7"]
BAD_WORDS = ["tpu", "GPU", "Cuda", "cuda:", "cuda:x", "cuda0", "cuda:-1", " cpu", "", None, 0]


def _lightgbm_has_gpu():
    import lightgbm as lgb

    X = np.random.default_rng(0).normal(size=(64, 2))
    try:
        params = {"device_type": "gpu", "verbose": -1, "num_iterations": 1}
        lgb.train(params, lgb.Dataset(X, X[:, 0]))
    except lgb.basic.LightGBMError:
        return False
    return True


no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
no_lightgbm_gpu = pytest.mark.skipif(_lightgbm_has_gpu(), reason="LightGBM has a GPU device")


# ------------------------------------------------------------------------------ resolver


@pytest.mark.parametrize("library", ["torch", "lightgbm", "catboost"])
def test_cpu_is_always_the_cpu(library):
    assert resolve_device("cpu", library=library) == "cpu"


@no_cuda
@no_lightgbm_gpu
@pytest.mark.parametrize("library", ["torch", "lightgbm", "catboost"])
def test_auto_is_the_cpu_without_a_gpu(library):
    assert resolve_device("auto", library=library) == "cpu"


@no_cuda
@pytest.mark.parametrize("library", ["torch", "catboost"])
@pytest.mark.parametrize("asked", GPU_WORDS)
def test_a_gpu_asked_for_without_cuda_says_what_to_pass(library, asked):
    with pytest.raises(DeviceUnavailableError) as info:
        resolve_device(asked, library=library, caller="SomeEstimator")
    message = str(info.value)
    assert isinstance(info.value, GbscoreError)
    assert message.startswith(f"SomeEstimator: device={asked!r}")
    assert "no CUDA device is visible" in message
    assert "Pass device='auto'" in message and "device='cpu'" in message
    assert ("an alias of 'cuda'" in message) == (asked == "gpu")


@no_lightgbm_gpu
@pytest.mark.parametrize("asked", GPU_WORDS)
def test_a_lightgbm_gpu_asked_for_without_one_says_what_to_pass(asked):
    with pytest.raises(DeviceUnavailableError) as info:
        resolve_device(asked, library="lightgbm")
    message = str(info.value)
    assert f"device={asked!r}" in message
    assert "LightGBM cannot train on its GPU device" in message
    assert "Pass device='auto'" in message and "device='cpu'" in message
    assert "OpenCL" in message


@pytest.mark.parametrize("bad", BAD_WORDS)
def test_a_word_outside_the_vocabulary_lists_the_accepted_ones(bad):
    with pytest.raises(ConfigError) as info:
        resolve_device(bad)
    message = str(info.value)
    assert f"got {bad!r}" in message
    for word in ("'auto'", "'cpu'", "'cuda'", "'cuda:N'", "'gpu' (an alias of 'cuda')"):
        assert word in message
    assert "'mps'" not in message


def test_mps_only_where_the_caller_supports_it():
    with pytest.raises(ConfigError, match="device must be .*; got 'mps'"):
        resolve_device("mps")
    if torch.backends.mps.is_available():
        assert resolve_device("mps", mps=True) == "mps"
    else:
        with pytest.raises(DeviceUnavailableError, match="device='mps'.*MPS backend.*'cpu'"):
            resolve_device("mps", mps=True)


def test_an_unknown_library_is_a_config_error():
    with pytest.raises(ConfigError, match="library must be one of .*'xgboost'"):
        resolve_device("cpu", library="xgboost")


@no_cuda
def test_auto_logs_why_once_per_caller(caplog):
    with caplog.at_level(logging.INFO, logger="gbscore"):
        for _ in range(3):
            resolve_device("auto", caller="test_auto_logs_why_once_per_caller")
    lines = [r.getMessage() for r in caplog.records if "test_auto_logs_why_once" in r.getMessage()]
    assert len(lines) == 1
    assert "device='auto' resolved to 'cpu' because no CUDA device is visible" in lines[0]


def test_the_parameter_constraint_takes_the_whole_vocabulary():
    plain, with_mps = device_constraint(), device_constraint(mps=True)
    for word in ("auto", "cpu", "cuda", "gpu", "cuda:0", "cuda:12"):
        assert plain.is_satisfied_by(word) and with_mps.is_satisfied_by(word)
    assert with_mps.is_satisfied_by("mps") and not plain.is_satisfied_by("mps")
    for bad in BAD_WORDS:
        assert not with_mps.is_satisfied_by(bad)
    assert "'cuda:N'" in str(plain) and "'gpu' is an alias of 'cuda'" in str(plain)


# ---------------------------------------------------------------------------- estimators


def _data(n=120, d=4):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    return X, 5 + X[:, 0] + rng.normal(scale=0.3, size=n)


# Each entry: the estimator with a device, and how to make it resolve that device.
def _lightgbm(device):
    return LightGBMScoreRegressor(n_estimators=5, n_jobs=1, device=device).fit(*_data())


def _catboost(device):
    return CatBoostScoreRegressor(iterations=5, thread_count=1, device=device).fit(*_data())


def _mlp(device):
    return MLPScoreRegressor(hidden=8, n_blocks=0, max_epochs=2, device=device).fit(*_data())


def _encoder(device):
    return SentenceTransformerEncoder(device=device, backend="torch").runtime()


ESTIMATORS = {
    "LightGBMScoreRegressor": _lightgbm,
    "CatBoostScoreRegressor": _catboost,
    "MLPScoreRegressor": _mlp,
    "SentenceTransformerEncoder": _encoder,
}


@no_cuda
@no_lightgbm_gpu
@pytest.mark.parametrize("asked", ["gpu", "cuda", "cuda:1"])
@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_refuses_a_missing_gpu_the_same_way(name, asked):
    with pytest.raises(DeviceUnavailableError) as info:
        ESTIMATORS[name](asked)
    message = str(info.value)
    assert message.startswith(f"{name}: device={asked!r}")
    assert "Pass device='auto'" in message and "device='cpu'" in message


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_names_the_accepted_devices(name):
    with pytest.raises(ValueError, match=r"'device' parameter .*'cuda:N'.*Got 'tpu'"):
        ESTIMATORS[name]("tpu")


@no_cuda
@no_lightgbm_gpu
@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n != "SentenceTransformerEncoder"])
@pytest.mark.parametrize("asked", ["auto", "cpu"])
def test_regressors_report_the_device_in_the_one_vocabulary(name, asked):
    assert ESTIMATORS[name](asked).device_ == "cpu"


@no_cuda
@pytest.mark.parametrize("asked", ["auto", "cpu"])
def test_the_encoder_runs_on_the_cpu_here(asked):
    assert _encoder(asked)["device"] == "cpu"
