"""Property-based tests: any valid competition-format data set gives one score per test row.

Hypothesis draws small competition-format data sets (the JSON files a user brings): 20 rows
and up, one metric or many, empty / null / very long / non-Latin / emoji text, duplicate
conversations, all-equal and half-point scores, scores written as strings as in the real
files, with or without the given metric embeddings. They are written to disk and read back
with :func:`gbscore.data.load_competition`, like ``gbscore run --data-dir`` does.

For each, every model kind must either fit and return exactly one finite score in [0, 10]
per test row, in test order, or raise a :class:`~gbscore.exceptions.GbscoreError` that says
what to change.

The fast suite runs a few examples per model kind; ``python -m pytest -m slow
tests/test_properties.py`` runs the larger variant. Both are derandomized so CI cannot pass
or fail by chance; set ``GBSCORE_HYPOTHESIS_EXPLORE=1`` to draw new examples locally (and add
any failure found to the explicit ``@example`` cases).
"""

from __future__ import annotations

import json
import os
import re
import string
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from gbscore import build_pipeline
from gbscore.data import load_competition
from gbscore.datasets import load_metric_names
from gbscore.exceptions import GbscoreError

MODEL_KINDS = ("ridge", "lightgbm", "catboost", "mlp", "stack")

# Small boosters and the model-free encoder keep one fit to a few seconds.
FAST = {
    "encoder": {"kind": "char-tfidf", "n_components": 8},
    "params": {},
}
MODEL_PARAMS = {
    "ridge": {},
    "lightgbm": {"model__n_estimators": 15, "model__n_jobs": 1},
    "catboost": {"model__iterations": 15, "model__thread_count": 1},
    "mlp": {"model__hidden": 16, "model__max_epochs": 5, "model__bilinear_rank": 4},
    "stack": {},
}
# The stack: two small bases on 2 folds (the default stack's folds and meta-learner).
STACK = {
    "cv": {"n_splits": 2},
    "stack": {
        "models": {
            "ridge": {"model": "ridge"},
            "lightgbm": {"model": "lightgbm", "params": MODEL_PARAMS["lightgbm"]},
        }
    },
}

_EXPLORE = os.environ.get("GBSCORE_HYPOTHESIS_EXPLORE") == "1"
_COMMON = dict(
    deadline=None,
    derandomize=not _EXPLORE,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

# A GbscoreError passes the property only if it says what to change; each accepted pattern is
# a kind of advice (a minimum size, a setting to change, data to add).
_ADVICE = re.compile(
    r"need(s)? at least|at least \d+|add (more )?(train|training)|set |use |expected",
    re.IGNORECASE,
)

_REAL_METRICS = load_metric_names()
_SLASHED = [m for m in _REAL_METRICS if "/" in m]
_PLAIN = [m for m in _REAL_METRICS if "/" not in m]

_FIXED_TEXTS = [
    "",
    "   ",
    "Hello, how do I apply fertiliser to tomatoes?",
    "मुझे अपने बैंक खाते का पासवर्ड कैसे बदलना चाहिए?",  # Hindi
    "உங்கள் கடவுச்சொல்லை யாருடனும் பகிர வேண்டாம்.",  # Tamil
    "আমি কীভাবে আমার ফোন নম্বর পরিবর্তন করব?",  # Bengali
    "你好，请帮我写一首关于秋天的诗。",  # Chinese
    "مرحبا، كيف حالك اليوم؟",  # Arabic, right-to-left
    "Bhai mera order kab aayega? Kal tak chahiye 🙏",  # romanised Hindi with emoji
    "🔥🔥🔥 😀😃😄 👍🏽 🇮🇳 👨‍👩‍👧‍👦",  # emoji only, with modifiers and ZWJ sequences
    "## Steps\n- first\n- second\n\n```python\nprint('x')\n```",
    "\x00\x01\t\n\r",
    "a",
]


@st.composite
def texts(draw, *, allow_none=True):
    kinds = ["fixed", "random", "long"] + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "fixed":
        return draw(st.sampled_from(_FIXED_TEXTS))
    if kind == "random":
        return draw(st.text(max_size=80))
    if kind == "long":
        base = draw(st.sampled_from(_FIXED_TEXTS[2:11]))
        return (base + " ") * draw(st.integers(300, 1500))  # ~5k to 60k characters
    return None


@st.composite
def metric_pools(draw, n_rows):
    many = draw(st.booleans())
    size = draw(st.integers(2, min(40, n_rows))) if many else draw(st.integers(1, 3))
    names = draw(
        st.lists(
            st.one_of(
                st.sampled_from(_SLASHED),
                st.sampled_from(_PLAIN),
                # user-made names with odd characters, still valid JSON strings
                st.text(string.ascii_lowercase + "_/é ", min_size=1, max_size=20),
            ),
            min_size=size,
            max_size=size,
            unique=True,
        )
    )
    return names


@st.composite
def scores(draw, n):
    kind = draw(st.sampled_from(["equal", "half", "skewed", "uniform"]))
    if kind == "equal":
        values = [draw(st.sampled_from([0.0, 5.0, 9.0, 10.0]))] * n
    elif kind == "half":
        values = draw(st.lists(st.sampled_from([0.5, 4.5, 8.5, 9.5]), min_size=n, max_size=n))
    elif kind == "skewed":  # the real files: mostly 9 and 10
        values = draw(
            st.lists(
                st.sampled_from([9.0] * 6 + [10.0] * 3 + [0.0, 7.0, 8.0]), min_size=n, max_size=n
            )
        )
    else:
        values = draw(st.lists(st.integers(0, 10).map(float), min_size=n, max_size=n))
    as_string = draw(st.booleans())  # the real files write "9.0"
    return [f"{v:.1f}" if as_string else v for v in values]


@st.composite
def competition_data(draw, *, max_train=40):
    n_train = draw(st.integers(20, max_train))
    n_test = draw(st.integers(1, 12))
    metrics = draw(metric_pools(n_train))
    # Conversations are drawn from a pool smaller than the rows, so some repeat.
    n_conv = draw(st.integers(1, n_train))
    convs = draw(
        st.lists(
            st.fixed_dictionaries(
                # user_prompt is never null in the real files (the loader rejects it)
                {
                    "system_prompt": texts(),
                    "user_prompt": texts(allow_none=False),
                    "response": texts(),
                }
            ),
            min_size=n_conv,
            max_size=n_conv,
        )
    )

    def rows(n, with_score):
        out = []
        for _ in range(n):
            conv = convs[draw(st.integers(0, n_conv - 1))]
            rec = {"metric_name": draw(st.sampled_from(metrics)), **conv}
            if conv["response"] is None and draw(st.booleans()):
                del rec["response"]  # "some responses are missing"
            out.append(rec)
        if with_score:
            for rec, s in zip(out, draw(scores(n)), strict=True):
                rec["score"] = s
        return out

    train = rows(n_train, True)
    test = rows(n_test, False)
    with_embeddings = draw(st.booleans())
    return {"train": train, "test": test, "metrics": metrics, "embeddings": with_embeddings}


def _write(folder, case, seed=0):
    folder = Path(folder)
    (folder / "train_data.json").write_text(json.dumps(case["train"]), encoding="utf-8")
    (folder / "test_data.json").write_text(json.dumps(case["test"]), encoding="utf-8")
    (folder / "metric_names.json").write_text(json.dumps(case["metrics"]), encoding="utf-8")
    if case["embeddings"]:
        emb = np.random.default_rng(seed).normal(size=(len(case["metrics"]), 16))
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        np.save(folder / "metric_name_embeddings.npy", emb.astype(np.float32))
    return load_competition(folder)


# Failures the property found in modules this file's author does not own, each reported to
# the module's owner with a proposed fix. A matching error does not fail the test; the test
# ends as xfail naming every entry it hit, so it passes again once the fixes land. Remove an
# entry when its fix lands. Any other error fails the test.
# Failures found by these properties and not yet fixed: (type, message pattern, where). The
# first three found here (one metric, exactly two metrics, no shared word) are fixed in
# augment.py and features/_match.py; add an entry only with the place that needs the fix.
KNOWN_FAILURES = []


def _known(exc):
    for kind, pattern, why in KNOWN_FAILURES:
        if type(exc) is kind and re.search(pattern, str(exc)):
            return why
    return None


def check_scores_every_row(kind, case, known=None):
    """The property: one finite score in [0, 10] per test row, in order, or a clear error.

    An error listed in :data:`KNOWN_FAILURES` is appended to ``known`` (when given) instead
    of raised.
    """
    config = {
        **FAST,
        "model": kind,
        "params": MODEL_PARAMS[kind],
        **(STACK if kind == "stack" else {}),
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = _write(tmp, case)
        model = build_pipeline(
            config, metric_embeddings=data.metric_embedding_table(), show_progress=False
        )
        model.fit(data.train.drop(columns="score"), data.train["score"].to_numpy())
        pred = np.asarray(model.predict(data.test))
    except GbscoreError as exc:
        assert _ADVICE.search(str(exc)), f"GbscoreError without advice on what to change: {exc}"
        return
    except Exception as exc:
        why = _known(exc)
        if why is None or known is None:
            raise
        known.append(why)
        return
    assert pred.shape == (len(data.test),)
    assert np.isfinite(pred).all()
    assert pred.min() >= 0.0 and pred.max() <= 10.0
    # In order: each row's score is the same when the test rows come in reverse.
    rev = np.asarray(model.predict(data.test.iloc[::-1]))[::-1]
    np.testing.assert_allclose(rev, pred, rtol=1e-9, atol=1e-9)


def _minimal_case():
    """20 rows, one metric, one conversation, all scores equal."""
    conv = {"system_prompt": None, "user_prompt": "", "response": ""}
    train = [{"metric_name": "fluency", **conv, "score": "9.0"} for _ in range(20)]
    test = [{"metric_name": "fluency", **conv}]
    return {"train": train, "test": test, "metrics": ["fluency"], "embeddings": False}


def _run_property(kind, *, max_examples, max_train, phases=None):
    known = []

    @settings(max_examples=max_examples, **_COMMON, **({"phases": phases} if phases else {}))
    @given(case=competition_data(max_train=max_train))
    @example(case=_minimal_case())
    def prop(case):
        check_scores_every_row(kind, case, known)

    prop()
    if known:
        pytest.xfail("known failures (see KNOWN_FAILURES): " + " | ".join(sorted(set(known))))


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_model_scores_every_test_row(kind):
    # No shrinking in the fast suite: a failing example is printed as drawn (and reproducible,
    # the run being derandomized); the slow variant shrinks it.
    _run_property(
        kind, max_examples=3, max_train=30, phases=[Phase.explicit, Phase.reuse, Phase.generate]
    )


def _many_cases(kind):
    # The stack fits every base per fold and the MLP trains a network: fewer cases keep CI's
    # slow suite within minutes.
    _run_property(kind, max_examples=8 if kind in ("stack", "mlp") else 40, max_train=120)


class _ManyCases:
    kind = None

    def test_every_test_row_is_scored(self):
        _many_cases(self.kind)


# One class per model kind (TestManyCases_ridge, ...): the README's full-suite command
# (pytest-xdist, --dist loadscope) gives each worker whole classes, or whole modules for plain
# functions, so these five 25-80 s cases can run on both workers instead of as one 250 s
# block on one of them.
for _kind in MODEL_KINDS:
    _name = f"TestManyCases_{_kind}"
    globals()[_name] = pytest.mark.slow(type(_name, (_ManyCases,), {"kind": _kind}))
