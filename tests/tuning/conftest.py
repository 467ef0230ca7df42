"""Fixtures of the tuning tests: tiny demo data, fast configs, storages."""

from __future__ import annotations

import copy
import uuid

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from gbscore.datasets import make_judge_data
from gbscore.tuning import TuningData

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

# Model-free encoder with a small vocabulary: a 3-fold CV of 200 rows takes about 2 s.
ENCODER = {"kind": "char-tfidf", "n_components": 32, "max_features": 3000}
FAST = {
    "ridge": {"model": "ridge", "encoder": ENCODER, "cv": {"n_splits": 3}},
    "lightgbm": {
        "model": "lightgbm",
        "encoder": ENCODER,
        "params": {"model__n_estimators": 60, "model__n_jobs": 1},
        "cv": {"n_splits": 3},
    },
    "catboost": {
        "model": "catboost",
        "encoder": ENCODER,
        "params": {"model__iterations": 30, "model__thread_count": 1},
        "cv": {"n_splits": 3},
    },
    # hidden=32 is the bottom of the MLP search space, so the untuned trial can reproduce it.
    "mlp": {
        "model": "mlp",
        "encoder": ENCODER,
        "params": {"model__max_epochs": 3, "model__hidden": 32},
        "cv": {"n_splits": 3},
    },
}


@pytest.fixture
def fast():
    """Fast configs per base model (a fresh copy per test)."""
    return copy.deepcopy(FAST)


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    # Two cores shared by several people: BLAS threads only add contention here. Session
    # scope, so module fixtures run under it too: the BLAS thread count changes the last bits
    # of an SVD, and reproduction tests compare numbers computed in different fixtures.
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def demo():
    return make_judge_data(n_train=200, n_test=60, random_state=0)


@pytest.fixture(scope="session")
def data(demo):
    emb = pd.DataFrame(demo.metric_embeddings, index=demo.metric_names)
    return TuningData(
        X=demo.train.drop(columns="score"),
        y=demo.train["score"].to_numpy(dtype=np.float64),
        metric_embeddings=emb,
        source="demo",
    )


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'studies.db'}"


@pytest.fixture
def study_name(request):
    """A name no other test (or earlier run) uses."""
    return f"test-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def postgres_url():
    """The PostgreSQL server of CI and of this machine; skips when unreachable."""
    from gbscore._optional import import_optional

    psycopg2 = import_optional("psycopg2", purpose="the PostgreSQL tuning tests")
    try:
        psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3
        ).close()
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL} ({first})")
    return POSTGRES_URL
