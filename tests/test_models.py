"""Numerical behaviour of the regressors: precision, batch independence, too-small data."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from gbscore.models import CatBoostScoreRegressor, LightGBMScoreRegressor, RidgeScoreRegressor


def _data(n=240, d=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d)
    y = 5 + X[:, :5] @ rng.normal(size=5) / 10 + rng.normal(scale=0.5, size=n)
    return X, y


def test_ridge_computes_in_float64():
    # The reference is scikit-learn's own scaler + Ridge in float64; in float32 the predictions
    # differed from it by ~1e-7 relative.
    X, y = _data()
    got = RidgeScoreRegressor(alpha=3.0, clip=False).fit(X, y).predict(X)
    Z = StandardScaler().fit_transform(X)
    expected = Ridge(alpha=3.0).fit(Z, y).predict(Z)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-11)


REGRESSORS = [
    RidgeScoreRegressor(clip=False),
    LightGBMScoreRegressor(n_estimators=40, clip=False, n_jobs=1),
    CatBoostScoreRegressor(iterations=40, clip=False, thread_count=1),
]


@pytest.mark.parametrize("est", REGRESSORS, ids=lambda e: type(e).__name__)
def test_prediction_of_a_row_does_not_depend_on_the_batch(est):
    # A stricter form of scikit-learn's check_methods_sample_order_invariance (20 rows, 3
    # features, rtol 1e-7): many features, a permuted batch and single rows, rtol 1e-12.
    X, y = _data()
    est.fit(X, y)
    whole = est.predict(X)
    assert whole.dtype == np.float64
    perm = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_allclose(est.predict(X[perm]), whole[perm], rtol=1e-12, atol=1e-12)
    rows = np.arange(0, len(X), 17)
    alone = np.array([est.predict(X[[i]])[0] for i in rows])
    np.testing.assert_allclose(alone, whole[rows], rtol=1e-12, atol=1e-12)


def test_catboost_fits_a_constant_target_as_that_constant(caplog):
    X, _ = _data(n=40, d=5)
    est = CatBoostScoreRegressor(iterations=20, thread_count=1)
    with caplog.at_level("INFO", logger="gbscore"):
        est.fit(X, np.full(40, 7.5))
    assert "all 40 training targets equal 7.5" in caplog.text
    np.testing.assert_array_equal(est.predict(X[:5]), np.full(5, 7.5))
    assert est.feature_importances_.shape == (5,)


def test_catboost_when_the_early_stopping_split_leaves_one_target_value():
    from sklearn.model_selection import train_test_split

    X, _ = _data(n=80, d=5)
    # every row the inner early-stopping split holds out (10%, seeded like the model) gets the
    # only other value, so the rows CatBoost trains on are constant
    _, val = train_test_split(np.arange(80), test_size=0.1, random_state=0)
    y = np.zeros(80)
    y[val] = 10.0
    est = CatBoostScoreRegressor(iterations=20, thread_count=1, random_state=0).fit(X, y)
    pred = est.predict(X)
    assert np.isfinite(pred).all() and pred.max() > 0.0


# ---------------------------------------------------------------- GPU paths (run where lent)
def _gpu_or_skip(library):
    from gbscore import resolve_device

    if resolve_device("auto", library=library) == "cpu":
        pytest.skip(f"{library} has no usable GPU here")


@pytest.mark.gpu
@pytest.mark.parametrize(
    "cpu",
    [
        LightGBMScoreRegressor(n_estimators=60, clip=False, device="cpu"),
        CatBoostScoreRegressor(iterations=60, clip=False, device="cpu"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_gpu_fit_learns_as_well_as_the_cpu_one(cpu):
    from sklearn.base import clone

    library = "lightgbm" if isinstance(cpu, LightGBMScoreRegressor) else "catboost"
    _gpu_or_skip(library)
    X, y = _data(n=2000, d=20)
    X_test, y_test = X[1500:], y[1500:]
    X, y = X[:1500], y[:1500]
    gpu = clone(cpu).set_params(device="cuda").fit(X, y)
    cpu.fit(X, y)
    assert gpu.device_ == "cuda" and cpu.device_ == "cpu"
    rmse = {m: float(np.sqrt(np.mean((m.predict(X_test) - y_test) ** 2))) for m in (gpu, cpu)}
    baseline = float(np.std(y_test))
    # Histograms in single precision (LightGBM) and GPU border/leaf computations (CatBoost)
    # give other trees than the CPU, not worse ones.
    assert rmse[gpu] < 0.8 * baseline
    assert rmse[gpu] < rmse[cpu] * 1.1


@pytest.mark.parametrize("share", [0.0, 1.5, "half"])
def test_catboost_gpu_ram_part_out_of_range_names_the_parameter(share):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _data(n=40, d=5)
    with pytest.raises(
        InvalidParameterError, match=r"'gpu_ram_part' parameter .* range \(0.0, 1.0\]"
    ):
        CatBoostScoreRegressor(iterations=5, gpu_ram_part=share).fit(X, y)
