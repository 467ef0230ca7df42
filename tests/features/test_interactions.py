import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from gbscore.features import InteractionFeatures, TableFeatures
from gbscore.features._interactions import embedding_blocks


def block_frame(n=80, d=8, seed=0):
    rng = np.random.default_rng(seed)
    cols = {}
    blocks = {}
    for b in ("metric_given", "metric_text", "system_prompt", "user_prompt", "response"):
        width = 12 if b == "metric_given" else d
        blocks[b] = rng.normal(size=(n, width))
        for i in range(width):
            cols[f"{b}__{i}"] = blocks[b][:, i]
    cols["len__response"] = rng.uniform(size=n)
    cols["metric_family"] = rng.integers(0, 3, size=n).astype(float)
    return pd.DataFrame(cols).astype(np.float32), blocks


def test_blocks_found_from_names():
    X, _ = block_frame()
    blocks = embedding_blocks(X.columns)
    assert set(blocks) == {
        "metric_given",
        "metric_text",
        "system_prompt",
        "user_prompt",
        "response",
    }
    assert len(blocks["metric_given"]) == 12


def test_cosines_are_correct_and_named():
    X, blocks = block_frame()
    tr = InteractionFeatures(n_components=3, bilinear_rank=2, passthrough="none").fit(X)
    out = pd.DataFrame(tr.transform(X), columns=tr.get_feature_names_out())
    m, r = blocks["metric_text"], blocks["response"]
    expected = np.sum(m * r, axis=1) / np.linalg.norm(m, axis=1) / np.linalg.norm(r, axis=1)
    np.testing.assert_allclose(out["cos__metric_text__response"], expected, rtol=1e-4, atol=1e-5)
    u = blocks["user_prompt"]
    expected_pr = np.sum(u * r, axis=1) / np.linalg.norm(u, axis=1) / np.linalg.norm(r, axis=1)
    np.testing.assert_allclose(out["cos__user_prompt__response"], expected_pr, rtol=1e-4, atol=1e-5)
    assert "prod__metric_text__response__2" in out.columns
    assert "absdiff__metric_text__user_prompt__0" in out.columns
    assert "bilinear__metric_text__system_prompt__1" in out.columns
    # the given metric embedding (another encoder, other width) is never paired with text
    assert not any("metric_given" in c for c in out.columns)


def test_passthrough_modes_and_row_count():
    X, _ = block_frame()
    for mode, kept in (("all", X.shape[1]), ("non_embedding", 2), ("none", 0)):
        tr = InteractionFeatures(n_components=2, bilinear_rank=1, passthrough=mode).fit(X)
        out = tr.transform(X)
        assert out.shape[0] == len(X)
        assert out.shape[1] == len(tr.get_feature_names_out())
        assert out.shape[1] - kept == 3 + 3 + 3 * 3 + 3 * (2 + 2 + 1)
        assert out.dtype == np.float64


def test_set_output_pandas_and_clone():
    X, _ = block_frame()
    tr = clone(InteractionFeatures(n_components=2)).set_output(transform="pandas")
    out = tr.fit_transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(tr.get_feature_names_out())


def test_deterministic_with_seed():
    X, _ = block_frame()
    a = InteractionFeatures(reduction="random", random_state=3).fit_transform(X)
    b = InteractionFeatures(reduction="random", random_state=3).fit_transform(X)
    np.testing.assert_array_equal(a, b)


def test_plain_array_needs_names():
    X, _ = block_frame()
    with pytest.raises(ValueError, match="column names"):
        InteractionFeatures().fit(X.to_numpy())
    tr = InteractionFeatures(feature_names=list(X.columns)).fit(X.to_numpy())
    assert tr.transform(X.to_numpy()).shape[0] == len(X)


def test_missing_metric_block_is_explained():
    X, _ = block_frame()
    with pytest.raises(ValueError, match="metric_block='metric_name_enc'.*blocks"):
        InteractionFeatures(metric_block="metric_name_enc").fit(X)


def test_columns_must_match_fit():
    X, _ = block_frame()
    tr = InteractionFeatures().fit(X)
    with pytest.raises(ValueError, match="differ from those seen in fit"):
        tr.transform(X.drop(columns="len__response"))


def test_table_features_scripts_lengths_family():
    X = pd.DataFrame(
        {
            "metric_name": ["a/x", "b", "c/y"],
            "system_prompt": ["", "sys", ""],
            "user_prompt": ["नमस्ते दुनिया", "வணக்கம்", "hello there"],
            "response": ["", "## Title\n- item\n- item", "plain"],
        }
    )
    tf = TableFeatures().fit(X.iloc[:2])
    out = pd.DataFrame(tf.transform(X), columns=tf.get_feature_names_out())
    assert out["script_devanagari__user_prompt"][0] > 0.9
    assert out["script_tamil__user_prompt"][1] > 0.9
    assert out["script_latin__user_prompt"][2] == 1.0
    assert out["empty__response"].tolist() == [1.0, 0.0, 0.0]
    assert out["markdown__response"][1] > 0
    assert out["metric_family"].tolist() == [0.0, 1.0, -1.0]  # family 'c' unseen in fit
    assert out["len__response"][0] == 0.0


def test_table_features_missing_column():
    X = pd.DataFrame({"metric_name": ["a"], "user_prompt": ["x"], "response": ["y"]})
    with pytest.raises(ValueError, match=r"lacks the columns \['system_prompt'\]"):
        TableFeatures().fit(X)


def _sign_aligned(a, b):
    """Columns of ``a`` flipped to agree in sign with those of ``b``."""
    return a * np.sign(np.sum(a * b, axis=0))


def test_pca_and_bilinear_match_scikit_learn_references():
    from sklearn.cross_decomposition import PLSSVD
    from sklearn.decomposition import PCA

    X, _ = block_frame(n=120, d=10, seed=4)
    tr = InteractionFeatures(n_components=3, bilinear_rank=2, passthrough="none").fit(X)
    out = pd.DataFrame(tr.transform(X), columns=tr.get_feature_names_out())
    A = X.to_numpy(dtype=np.float64)
    blocks = embedding_blocks(X.columns)

    def unit(b):
        a = A[:, blocks[b]]
        return a / np.linalg.norm(a, axis=1, keepdims=True)

    M, T = unit("metric_text"), unit("response")
    cols = [f"prod__metric_text__response__{i}" for i in range(3)]
    expected = PCA(n_components=3, svd_solver="full").fit_transform(M * T)
    got = out[cols].to_numpy()
    np.testing.assert_allclose(_sign_aligned(got, expected), expected, rtol=1e-7, atol=1e-9)
    xs, ys = PLSSVD(n_components=2, scale=False).fit(M, T).transform(M, T)
    cols = [f"bilinear__metric_text__response__{i}" for i in range(2)]
    np.testing.assert_allclose(out[cols].to_numpy(), xs * ys, rtol=1e-7, atol=1e-9)


def test_directions_beyond_the_rank_are_zero_columns():
    # Three distinct metric vectors: the metric/text cross-covariance has rank 2, and the
    # product matrix of a single text vector has rank 2 as well.
    X, _ = block_frame(n=60, d=8, seed=1)
    metric_cols = [f"metric_text__{i}" for i in range(8)]
    X.loc[:, metric_cols] = X[metric_cols].to_numpy()[np.arange(60) % 3]
    resp_cols = [f"response__{i}" for i in range(8)]
    X.loc[:, resp_cols] = X[resp_cols].to_numpy()[[0] * 60]
    tr = InteractionFeatures(n_components=5, bilinear_rank=4, passthrough="none").fit(X)
    out = pd.DataFrame(tr.transform(X), columns=tr.get_feature_names_out())
    bil = out[[f"bilinear__metric_text__user_prompt__{i}" for i in range(4)]].to_numpy()
    assert np.all(np.abs(bil[:, :2]).max(axis=0) > 1e-3)
    assert np.all(bil[:, 2:] == 0.0)
    # the response block is one repeated vector: no covariance with the metric at all
    resp = out[[f"bilinear__metric_text__response__{i}" for i in range(4)]].to_numpy()
    assert np.all(resp == 0.0)
    prod = out[[f"prod__metric_text__response__{i}" for i in range(5)]].to_numpy()
    assert np.all(np.abs(prod[:, :2]).max(axis=0) > 1e-3)
    assert np.all(prod[:, 2:] == 0.0)


@pytest.mark.parametrize("n_rows", [1, 2, 5])
def test_tiny_fits_keep_the_same_columns(n_rows):
    X, _ = block_frame(n=40, d=8, seed=2)
    full = InteractionFeatures(n_components=4, bilinear_rank=3).fit(X)
    tiny = InteractionFeatures(n_components=4, bilinear_rank=3).fit(X.iloc[:n_rows])
    assert list(tiny.get_feature_names_out()) == list(full.get_feature_names_out())
    out = tiny.transform(X)
    assert out.shape == (40, len(full.get_feature_names_out()))
    assert np.isfinite(out).all()


def test_transform_of_a_row_does_not_depend_on_the_batch():
    X, _ = block_frame(n=90, d=24, seed=3)
    tr = InteractionFeatures(n_components=6, bilinear_rank=4).fit(X)
    whole = tr.transform(X)
    perm = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(tr.transform(X.iloc[perm]), whole[perm], rtol=1e-12, atol=1e-14)
    alone = np.vstack([tr.transform(X.iloc[[i]]) for i in range(0, 90, 7)])
    np.testing.assert_allclose(alone, whole[::7], rtol=1e-12, atol=1e-14)


def test_fits_on_inputs_alike_in_their_blocks_share_the_fitted_projections():
    """The stack's bases feed this step unions that differ only in other columns: the second
    fit reuses the first's reducers (the same objects), and transforms as a fit of its own
    would; a change in a block's values or in the settings fits anew."""
    from gbscore.features import clear_caches

    X, _ = block_frame()
    other = X.assign(stat_extra=np.linspace(0.0, 1.0, len(X)))  # a non-block column
    clear_caches()
    a = InteractionFeatures(n_components=3, bilinear_rank=2).fit(X)
    b = InteractionFeatures(n_components=3, bilinear_rank=2).fit(other)
    assert b.reducers_ is a.reducers_ and b.bilinear_ is a.bilinear_
    clear_caches()
    alone = InteractionFeatures(n_components=3, bilinear_rank=2).fit(other)
    assert alone.reducers_ is not a.reducers_
    np.testing.assert_array_equal(alone.transform(other), b.transform(other))
    assert list(b.get_feature_names_out()) == list(alone.get_feature_names_out())

    # Each change to what the fit reads, fitted right after the unchanged step: its own
    # projections, equal to those it gets with nothing cached.
    def changed(frame, column):
        frame = frame.copy()
        frame.loc[0, column] += 0.5  # one value of one block changes
        return frame

    variants = {
        "a text block": ({}, changed(other, "response__7")),
        "the metric block": ({}, changed(other, "metric_text__3")),
        "n_components": ({"n_components": 2}, other),
        "bilinear_rank": ({"bilinear_rank": 1}, other),
        "reduction": ({"reduction": "random"}, other),
    }
    for what, (change, data) in variants.items():
        clear_caches()
        base = InteractionFeatures(n_components=3, bilinear_rank=2).fit(other)
        step = InteractionFeatures(**{"n_components": 3, "bilinear_rank": 2, **change}).fit(data)
        assert step.reducers_ is not base.reducers_, what
        clear_caches()
        fresh = InteractionFeatures(**{"n_components": 3, "bilinear_rank": 2, **change}).fit(data)
        np.testing.assert_array_equal(step.transform(data), fresh.transform(data), err_msg=what)
        assert not np.array_equal(step.transform(data), base.transform(data)), what
