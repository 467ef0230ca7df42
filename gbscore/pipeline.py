"""The scoring pipeline: imbalanced-learn's Pipeline with the sampler's weights routed.

::

    NegativeSampler            (fit only: adds metric-swapped rows)
      -> FeatureUnion(EmbeddingFeaturizer, TableFeatures, MetricMatchFeatures)   (pandas, named)
      -> InteractionFeatures   (cosines, reduced products, bilinear, prompt-response similarity)
      -> regressor             (LightGBM, CatBoost, Ridge, MLP)

:func:`gbscore.config.build_pipeline` builds it from a configuration.
"""

from __future__ import annotations

import time

import joblib
import numpy as np
from imblearn.pipeline import Pipeline as _ImbPipeline
from sklearn.base import clone
from sklearn.pipeline import FeatureUnion
from sklearn.utils.metaestimators import available_if

from .exceptions import GbscoreError

__all__ = [
    "ScorePipeline",
    "fit_prefix",
    "fit_shared",
    "is_sampler",
    "predict_shared",
    "transform_prefix",
    "transform_shared",
]


def is_sampler(step):
    """Whether a pipeline step is a sampler (it changes the rows in fit and is skipped after)."""
    return hasattr(step, "fit_resample")


def _active(step):
    return step is not None and step != "passthrough"


def fit_prefix(pipe, X, y, step_params=None):
    """Fit every step of ``pipe`` but the last, in place; return what the last step gets.

    Samplers run ``fit_resample``, transformers ``fit_transform``. The weight is the
    ``sample_weight_`` of the last sampler that has one (``None`` otherwise): rows a sampler
    adds have no weights a caller could pass in, so they must come from the sampler.

    Returns
    -------
    (Xt, yt, sample_weight or None)
    """
    step_params = step_params or {}
    Xt, yt, weight = X, y, None
    for name, step in pipe.steps[:-1]:
        if not _active(step):
            continue
        kw = step_params.get(name, {})
        if is_sampler(step):
            Xt, yt = step.fit_resample(Xt, yt, **kw)
            weight = getattr(step, "sample_weight_", weight)
        else:
            Xt = step.fit_transform(Xt, yt, **kw)
    return Xt, yt, weight


def transform_prefix(pipe, X):
    """Run a fitted pipeline's steps before the last one, skipping samplers (as predict does)."""
    for _, step in pipe.steps[:-1]:
        if _active(step) and not is_sampler(step):
            X = step.transform(X)
    return X


def _step_keys(pipe):
    """One key per step before the last: equal keys mean equal steps so far, equally set."""
    keys, key = [], ()
    for _, step in pipe.steps[:-1]:
        key = (*key, joblib.hash(clone(step)) if _active(step) else repr(step))
        keys.append(key)
    return keys


def fit_shared(pipes, X, y, final_params=None):
    """Fit pipelines on the same rows, running each distinct run of leading steps once.

    Pipelines whose first steps are set alike (compared by ``joblib.hash`` of a clone)
    share those fitted steps, the same objects, and the output they computed; from the
    first step that differs each goes its own way. The stack's bases share the sampler and
    the featurizer, and the boosters also their interaction step, while the MLP takes the
    raw embedding blocks from its own. Within a ``FeatureUnion`` that differs, the members
    set alike on the same input are fitted once too (:func:`_fit_union_shared`): the
    ``catboost_phrasing``, ``lightgbm_phrasing`` and ``lightgbm_rows`` bases, whose union
    differs from the other bases' only in the metric-match member, reuse their embedding,
    table and learned-matching members (and the two ``_phrasing`` bases share all their steps
    with each other).
    Equivalent to fitting a clone of each when the steps have integer seeds (with
    ``random_state=None`` a shared step draws once where separate fits would draw each).
    Only outputs a later pipeline still reads are kept, so peak memory is that of one
    pipeline plus the outputs branches still share. scikit-learn's
    ``Pipeline(memory=...)`` caches only transformers, on disk, not the sampler, hence this.

    Parameters
    ----------
    pipes : dict of str to Pipeline
        Unfitted pipelines (cloned here, not changed).
    X, y
        Training rows.
    final_params : dict of str to dict, optional
        Per pipeline, keyword arguments of its last step's ``fit``. The sampler's weights are
        added as ``sample_weight`` where the pipeline has ``route_sample_weight``.

    Returns
    -------
    fitted : dict of str to Pipeline
    prefix_seconds : float
        Time in the shared and own steps before the last ones.
    model_seconds : dict of str to float
        Time in each last step's ``fit``.
    """
    final_params = final_params or {}
    names = list(pipes)
    keys = {name: _step_keys(pipes[name]) for name in names}
    # Per pipeline and step, the sharing key of each union member (None: fitted as usual).
    member_keys = {name: _member_keys(pipes[name], keys[name]) for name in names}
    memo = {(): (X, y, None)}  # key -> (output, rows' targets, sampler weight)
    steps_of = {}  # key -> fitted step
    members = {}  # member key -> (fitted member, its output)
    fitted, model_seconds, prefix_seconds = {}, {}, 0.0
    for i, name in enumerate(names):
        pipe = clone(pipes[name])
        # What ScorePipeline.fit would check before fitting.
        pipe._validate_params()
        pipe._validate_steps()
        parent, steps = (), []
        for j, ((step_name, step), key) in enumerate(zip(pipe.steps[:-1], keys[name], strict=True)):
            if key not in steps_of:
                Xt, yt, weight = memo[parent]
                start = time.perf_counter()
                if _active(step) and is_sampler(step):
                    Xt, yt = step.fit_resample(Xt, yt)
                    weight = getattr(step, "sample_weight_", weight)
                elif _active(step) and member_keys[name][j]:
                    Xt = _fit_union_shared(step, Xt, yt, member_keys[name][j], members)
                elif _active(step):
                    Xt = step.fit_transform(Xt, yt)
                prefix_seconds += time.perf_counter() - start
                memo[key], steps_of[key] = (Xt, yt, weight), step
            steps.append((step_name, steps_of[key]))
            parent = key
        Xt, yt, weight = memo[parent]
        _keep_only(memo, _resume_points(keys, names[i + 1 :], steps_of))
        wanted = {k for n in names[i + 1 :] for ks in member_keys[n] for k in ks if k}
        for key in [k for k in members if k not in wanted]:
            del members[key]
        last_name, last = pipe.steps[-1]
        kw = dict(final_params.get(name, {}))
        if getattr(pipe, "route_sample_weight", False) and weight is not None:
            kw["sample_weight"] = weight
        start = time.perf_counter()
        last.fit(Xt, yt, **kw)
        model_seconds[name] = time.perf_counter() - start
        pipe.steps = [*steps, (last_name, last)]
        fitted[name] = pipe
        del Xt, yt, weight
    return fitted, prefix_seconds, model_seconds


def _member_keys(pipe, step_keys):
    """Per step before the last, the sharing keys of a union's members, else ``[]``.

    A member's key is (the key of the steps before the union, its name, ``joblib.hash`` of
    a clone): equal keys mean the same settings on the same input. ``None`` for members
    that are not shared: "drop"/"passthrough" and objects that cannot be cloned. A union
    asked to run its members in parallel is fitted whole: its stand-ins would carry the
    outputs they hold to other processes.
    """
    out = []
    for j, (_, step) in enumerate(pipe.steps[:-1]):
        keys = []
        if _active(step) and isinstance(step, FeatureUnion) and step.n_jobs in (None, 1):
            parent = step_keys[j - 1] if j else ()
            for name, member in step.transformer_list:
                shareable = not isinstance(member, str) and hasattr(member, "get_params")
                keys.append((parent, name, joblib.hash(clone(member))) if shareable else None)
        out.append(keys if any(keys) else [])
    return out


class _Member:
    """Stands in for a ``FeatureUnion`` member during the union's own ``fit_transform``:
    returns the output the member already computed on this input, or fits the member and
    keeps its output. The union then stacks, weighs and names the outputs as it always
    does."""

    def __init__(self, member, output=None):
        self.member, self.output = member, output

    def fit_transform(self, X, y=None, **params):
        if self.output is None:
            if hasattr(self.member, "fit_transform"):
                self.output = self.member.fit_transform(X, y, **params)
            else:
                self.output = self.member.fit(X, y, **params).transform(X)
        return self.output

    def transform(self, X):
        return self.member.transform(X)

    @available_if(lambda self: hasattr(self.member, "get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        return self.member.get_feature_names_out(input_features)


def _fit_union_shared(union, X, y, keys, members):
    """``union.fit_transform(X, y)``, with each member fitted once per input and settings.

    A member whose key (``keys``, aligned with ``union.transformer_list``; see
    :func:`_member_keys`) an earlier pipeline's union already fitted is that fitted object,
    and its output is reused; the other shareable members are fitted and recorded in
    ``members``. The union's own ``fit_transform`` still assembles the result, so column
    names, weights and the output container are those of a plain fit. Written here because
    scikit-learn's ``Pipeline(memory=...)`` caches whole steps only.
    """
    originals = list(union.transformer_list)
    union.transformer_list = [
        (name, member if key is None else _Member(*members.get(key, (member,))))
        for (name, member), key in zip(originals, keys, strict=True)
    ]
    try:
        out = union.fit_transform(X, y)
        for (_, member), key in zip(union.transformer_list, keys, strict=True):
            if key is not None:
                members.setdefault(key, (member.member, member.output))
    finally:
        union.transformer_list = [
            (name, member.member if isinstance(member, _Member) else member)
            for name, member in union.transformer_list
        ]
    return out


def _resume_points(keys, later, done):
    """The output each later pipeline reads first: its longest run of steps already done."""
    points = set()
    for name in later:
        point = ()
        for key in keys[name]:
            if key not in done:
                break
            point = key
        points.add(point)
    return points


def _keep_only(memo, points):
    for key in [k for k in memo if k and k not in points]:
        del memo[key]


def transform_shared(pipes, X):
    """What the last step of each fitted pipeline gets for ``X`` (samplers skipped, as in
    ``predict``); a step several pipelines share (the same object, as :func:`fit_shared`
    leaves them) transforms ``X`` once.

    Returns
    -------
    dict of str to the transformed ``X``
    """
    names = list(pipes)
    keys = {}
    for name in names:
        key, keys[name] = (), []
        for _, step in pipes[name].steps[:-1]:
            key = (*key, id(step))
            keys[name].append(key)
    memo, out = {(): X}, {}
    for i, name in enumerate(names):
        parent = ()
        for (_, step), key in zip(pipes[name].steps[:-1], keys[name], strict=True):
            if key not in memo:
                Xp = memo[parent]
                memo[key] = step.transform(Xp) if _active(step) and not is_sampler(step) else Xp
            parent = key
        out[name] = memo[parent]
        _keep_only(memo, _resume_points(keys, names[i + 1 :], memo))
    return out


def predict_shared(fitted, X):
    """Float64 predictions of fitted estimators by name; the steps pipelines share (as
    :func:`fit_shared` leaves them) transform ``X`` once (:func:`transform_shared`)."""
    pipes = {n: e for n, e in fitted.items() if getattr(e, "steps", None)}
    inputs = transform_shared(pipes, X)
    return {
        n: np.asarray(
            e.steps[-1][1].predict(inputs[n]) if n in pipes else e.predict(X), dtype=np.float64
        )
        for n, e in fitted.items()
    }


class ScorePipeline(_ImbPipeline):
    """imbalanced-learn's Pipeline that also gives samplers' weights to the final estimator.

    Samplers run in ``fit`` only and are skipped by ``predict``/``transform``. When
    ``route_sample_weight=True`` and a sampler exposes ``sample_weight_`` (as
    :class:`~gbscore.augment.NegativeSampler` does), that array is passed to the final
    estimator's ``fit`` as ``sample_weight``.

    ``fit`` takes ``step__param`` fit parameters (e.g. ``model__callbacks``); metadata
    routing is not supported. Without ``route_sample_weight`` it is imbalanced-learn's fit.
    """

    # imbalanced-learn's constraints, less transform_input (not a parameter here), plus ours.
    _parameter_constraints: dict = {
        **{k: v for k, v in _ImbPipeline._parameter_constraints.items() if k != "transform_input"},
        "route_sample_weight": ["boolean"],
    }

    def __init__(self, steps, *, route_sample_weight=False, memory=None, verbose=False):
        super().__init__(steps, memory=memory, verbose=verbose)
        self.route_sample_weight = route_sample_weight

    def fit(self, X, y=None, **params):
        self._validate_params()
        if not self.route_sample_weight:
            return super().fit(X, y, **params)
        # imbalanced-learn has no public hook for a weight produced by a sampler, so the
        # steps are fitted here with their public fit_resample/fit_transform/fit methods.
        step_params = {}
        for key, value in params.items():
            step, sep, param = key.partition("__")
            if not sep or step not in self.named_steps:
                raise ValueError(
                    f"fit parameter {key!r} must be named <step>__<param> with a step of "
                    f"{[n for n, _ in self.steps]}"
                )
            step_params.setdefault(step, {})[param] = value
        Xt, yt, weight = fit_prefix(self, X, y, step_params)
        last_name, last = self.steps[-1]
        if _active(last):
            kw = step_params.get(last_name, {})
            if weight is not None:
                kw = {**kw, "sample_weight": weight}
            last.fit(Xt, yt, **kw)
        return self

    def predict_uncertainty(self, X):
        """The final estimator's ``predict_uncertainty`` on the transformed rows.

        Raises
        ------
        GbscoreError
            When the final estimator gives no uncertainty.
        """
        last = self.steps[-1][1]
        if not hasattr(last, "predict_uncertainty"):
            raise GbscoreError(
                f"this model ({type(last).__name__}) gives no uncertainty; use the stack (the "
                "default of `gbscore run`), the MLP, or CatBoost with "
                "model__loss_function='RMSEWithUncertainty'"
            )
        return last.predict_uncertainty(transform_prefix(self, X))
