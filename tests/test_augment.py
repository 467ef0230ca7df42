import numpy as np
import pandas as pd
import pytest

from gbscore.augment import (
    BandLabels,
    NegativeSampler,
    SimilarityLabels,
    conversation_groups,
    metric_family,
)

METRICS = [
    "toxicity_level/explicit_toxicity",
    "toxicity_level/implicit_or_subtle_toxicity",
    "privacy_leakage/prompt_based_pii_leakage",
    "fluency_score/syntactic_fluency",
    "jailbreak",
    "rejection_rate/over_rejection",
]


def make_table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "metric_name": [METRICS[i % len(METRICS)] for i in range(n)],
            "system_prompt": ["" if i % 3 == 0 else f"system {i % 7}" for i in range(n)],
            "user_prompt": [f"question {i}" for i in range(n)],
            "response": [f"answer {i}" for i in range(n)],
        }
    )
    y = rng.choice([8.0, 9.0, 10.0], size=n)
    return X, y


def test_adds_rows_and_keeps_real_rows_first():
    X, y = make_table()
    s = NegativeSampler(
        swap_random=1, swap_near=0.5, swap_far=0.5, response_mismatch=0.5, random_state=0
    )
    Xr, yr = s.fit_resample(X, y)
    n = len(X)
    assert len(Xr) == len(yr) == n + n + n // 2 * 3
    pd.testing.assert_frame_equal(Xr.iloc[:n], X)
    np.testing.assert_array_equal(yr[:n], y)
    assert not s.synthetic_mask_[:n].any() and s.synthetic_mask_[n:].all()
    np.testing.assert_array_equal(s.sample_indices_[:n], np.arange(n))
    assert len(s.sample_indices_) == len(s.groups_) == len(s.sample_weight_) == len(Xr)


def test_swaps_change_the_metric_and_keep_the_text():
    X, y = make_table()
    s = NegativeSampler(swap_random=2, swap_near=0, swap_far=0, response_mismatch=0, random_state=1)
    Xr, _ = s.fit_resample(X, y)
    syn = Xr[s.synthetic_mask_]
    src = X.iloc[s.sample_indices_[s.synthetic_mask_]]
    assert (syn["metric_name"].to_numpy() != src["metric_name"].to_numpy()).all()
    for col in ("system_prompt", "user_prompt", "response"):
        np.testing.assert_array_equal(syn[col].to_numpy(), src[col].to_numpy())


def test_groups_keep_copies_with_their_conversation():
    X, y = make_table()
    X.loc[1, ["system_prompt", "user_prompt", "response"]] = X.loc[
        0, ["system_prompt", "user_prompt", "response"]
    ]
    s = NegativeSampler(random_state=0)
    Xr, _ = s.fit_resample(X, y)
    base = conversation_groups(X)
    assert base[0] == base[1]
    swaps = np.char.startswith(s.strategy_.astype(str), "swap")
    np.testing.assert_array_equal(s.groups_[swaps], base[s.sample_indices_[swaps]])
    # the conversation recorded in groups_ is the one whose text the row carries
    np.testing.assert_array_equal(
        conversation_groups(Xr)[swaps], conversation_groups(X)[s.sample_indices_[swaps]]
    )


def test_band_policy_respected():
    X, y = make_table()
    s = NegativeSampler(label_policy=BandLabels(band=(1.0, 3.0)), random_state=0)
    _, yr = s.fit_resample(X, y)
    syn = yr[s.synthetic_mask_]
    assert syn.min() >= 1.0 and syn.max() <= 3.0
    assert syn.std() > 0.2  # drawn from the band, not a constant


def test_similarity_policy_bands_and_cap():
    X, y = make_table(120)
    policy = SimilarityLabels(
        unrelated=(0, 2), related=(4, 6), general=(7, 9), mismatch=(0, 1), n_related=1
    )
    s = NegativeSampler(swap_random=3, response_mismatch=1, label_policy=policy, random_state=0)
    Xr, yr = s.fit_resample(X, y)
    src_score = y[s.sample_indices_]
    for rel, (lo, hi) in {
        "unrelated": (0, 2),
        "related": (4, 6),
        "general": (7, 9),
        "mismatch": (0, 1),
    }.items():
        m = s.relation_ == rel
        assert m.any(), rel
        assert (yr[m] >= lo - 1e-9).all()
        assert (yr[m] <= np.minimum(hi, src_score[m]) + 1e-9).all()
    # general = target metric contains a general substring; related includes same family
    gen = s.relation_ == "general"
    assert all("fluency" in m for m in Xr["metric_name"][gen])
    rel = (s.relation_ == "related") & np.char.startswith(s.strategy_.astype(str), "swap")
    fam_src = X["metric_name"].iloc[s.sample_indices_[rel]].map(metric_family).to_numpy()
    fam_dst = Xr["metric_name"][rel].map(metric_family).to_numpy()
    sim_pairs = (fam_src == fam_dst).sum()
    assert sim_pairs > 0


def test_label_never_exceeds_source_score():
    X, y = make_table()
    y[:] = 2.0
    s = NegativeSampler(random_state=0)
    _, yr = s.fit_resample(X, y)
    assert yr.max() <= 2.0


def test_determinism_and_seed_dependence():
    X, y = make_table()
    a = NegativeSampler(random_state=7).fit_resample(X, y)
    b = NegativeSampler(random_state=7).fit_resample(X, y)
    c = NegativeSampler(random_state=8).fit_resample(X, y)
    pd.testing.assert_frame_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_response_mismatch_uses_another_conversation():
    X, y = make_table()
    s = NegativeSampler(swap_random=0, swap_near=0, swap_far=0, response_mismatch=1, random_state=0)
    Xr, _ = s.fit_resample(X, y)
    syn = Xr[s.synthetic_mask_]
    src = X.iloc[s.sample_indices_[s.synthetic_mask_]]
    assert (syn["response"].to_numpy() != src["response"].to_numpy()).all()
    np.testing.assert_array_equal(syn["user_prompt"].to_numpy(), src["user_prompt"].to_numpy())


def test_text_shuffle_moves_conversation_under_metric():
    X, y = make_table()
    s = NegativeSampler(
        swap_random=0, swap_near=0, swap_far=0, response_mismatch=0, text_shuffle=1, random_state=0
    )
    Xr, _ = s.fit_resample(X, y)
    syn = Xr[s.synthetic_mask_]
    src = X.iloc[s.sample_indices_[s.synthetic_mask_]]
    np.testing.assert_array_equal(syn["metric_name"].to_numpy(), src["metric_name"].to_numpy())
    assert (syn["user_prompt"].to_numpy() != src["user_prompt"].to_numpy()).all()


def test_near_swaps_are_more_similar_than_far_swaps():
    names = [f"fam{f}/leaf{i}" for f in range(6) for i in range(4)]
    X = pd.DataFrame(
        {
            "metric_name": names * 3,
            "system_prompt": "",
            "user_prompt": [str(i) for i in range(72)],
            "response": "r",
        }
    )
    y = np.full(len(X), 9.0)
    near = NegativeSampler(
        swap_random=0, swap_near=1, swap_far=0, response_mismatch=0, n_near=3, random_state=0
    )
    far = NegativeSampler(
        swap_random=0, swap_near=0, swap_far=1, response_mismatch=0, random_state=0
    )
    Xn, _ = near.fit_resample(X, y)
    Xf, _ = far.fit_resample(X, y)

    def same_family(Xr, s):
        m = s.synthetic_mask_
        a = X["metric_name"].iloc[s.sample_indices_[m]].map(metric_family).to_numpy()
        return (a == Xr["metric_name"][m].map(metric_family).to_numpy()).mean()

    assert same_family(Xn, near) == 1.0
    assert same_family(Xf, far) == 0.0


def test_sample_weight_for_synthetic_rows():
    X, y = make_table()
    s = NegativeSampler(synthetic_weight=0.5, random_state=0)
    s.fit_resample(X, y)
    assert set(s.sample_weight_[s.synthetic_mask_]) == {0.5}
    assert set(s.sample_weight_[~s.synthetic_mask_]) == {1.0}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"swap_random": -1}, "swap_random"),
        ({"response_mismatch": -0.5}, "response_mismatch"),
        ({"label_policy": BandLabels(band=(-1, 4))}, r"band=\(-1, 4\).*\[0, 10\]"),
        ({"label_policy": BandLabels(band=(3, 11))}, r"\[0, 10\]"),
        ({"label_policy": SimilarityLabels(related=(8, 5))}, "related"),
        ({"label_policy": "zero"}, "label_policy"),
    ],
)
def test_bad_parameters_are_named(kwargs, match):
    X, y = make_table()
    with pytest.raises(ValueError, match=match):
        NegativeSampler(**kwargs).fit_resample(X, y)


def test_fewer_than_two_metrics():
    X, y = make_table()
    X["metric_name"] = "jailbreak"
    with pytest.raises(ValueError, match="at least 2 distinct metrics"):
        NegativeSampler().fit_resample(X, y)


def test_needs_the_tidy_table():
    with pytest.raises(ValueError, match="tidy table"):
        NegativeSampler().fit_resample(np.zeros((4, 3)), np.ones(4))


def test_metric_embeddings_drive_similarity():
    X, y = make_table()
    # embeddings that make 'jailbreak' the nearest neighbour of the explicit-toxicity metric
    vecs = np.eye(len(METRICS))
    vecs[METRICS.index("jailbreak")] = vecs[0] * 0.9 + vecs[METRICS.index("jailbreak")] * 0.1
    emb = pd.DataFrame(vecs, index=METRICS)
    s = NegativeSampler(
        swap_random=0,
        swap_near=1,
        swap_far=0,
        response_mismatch=0,
        n_near=1,
        metric_embeddings=emb,
        random_state=0,
    )
    Xr, _ = s.fit_resample(X, y)
    m = s.synthetic_mask_ & (X["metric_name"].to_numpy()[s.sample_indices_] == METRICS[0])
    assert set(Xr["metric_name"][m]) == {"jailbreak"}


def test_embedding_noise_adds_noisy_copies_of_embedding_columns_only():
    from gbscore.augment import EmbeddingNoise

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        rng.normal(size=(40, 4)),
        columns=["response__0", "response__1", "len__response", "metric_family"],
    )
    y = rng.uniform(0, 10, size=40)
    s = EmbeddingNoise(ratio=1.5, scale=0.1, random_state=0)
    Xr, yr = s.fit_resample(X, y)
    assert len(Xr) == 40 + 60 and list(Xr.columns) == list(X.columns)
    src = s.sample_indices_[s.synthetic_mask_]
    np.testing.assert_array_equal(yr[40:], y[src])  # labels kept
    syn = Xr[s.synthetic_mask_].to_numpy()
    orig = X.to_numpy()[src]
    assert not np.allclose(syn[:, :2], orig[:, :2])  # embedding block perturbed
    np.testing.assert_allclose(syn[:, 2:], orig[:, 2:], rtol=1e-6)  # statistics untouched
    again = EmbeddingNoise(ratio=1.5, scale=0.1, random_state=0).fit_resample(X, y)[0]
    pd.testing.assert_frame_equal(Xr, again)
    with pytest.raises(ValueError, match="ratio"):
        EmbeddingNoise(ratio=-1).fit_resample(X, y)


def test_sqrt_balanced_class_weights_and_label_noise():
    import pandas as pd

    from gbscore.augment import NegativeSampler

    rows = 60
    X = pd.DataFrame(
        {
            "metric_name": [f"m{i % 6}" for i in range(rows)],
            "system_prompt": None,
            "user_prompt": [f"question number {i}" for i in range(rows)],
            "response": [f"answer number {i}" for i in range(rows)],
        }
    )
    y = np.where(np.arange(rows) < 50, 9.0, 3.0)  # 50 nines, 10 threes
    plain = NegativeSampler(swap_random=0, swap_near=0, swap_far=0, response_mismatch=0)
    Xr, yr = plain.fit_resample(X, y)
    np.testing.assert_array_equal(plain.sample_weight_, np.ones(rows))
    balanced = NegativeSampler(
        swap_random=0, swap_near=0, swap_far=0, response_mismatch=0, class_weight="sqrt_balanced"
    )
    balanced.fit_resample(X, y)
    w = balanced.sample_weight_
    # counts 50 and 10, mean 30: sqrt(30/50) and sqrt(30/10), then scaled to mean 1
    raw9, raw3 = np.sqrt(30 / 50), np.sqrt(30 / 10)
    mean = (50 * raw9 + 10 * raw3) / 60
    np.testing.assert_allclose(w[:50], raw9 / mean)
    np.testing.assert_allclose(w[50:], raw3 / mean)
    capped = NegativeSampler(
        swap_random=0,
        swap_near=0,
        swap_far=0,
        response_mismatch=0,
        class_weight="sqrt_balanced",
        class_weight_cap=1.2,
    )
    capped.fit_resample(X, y)
    ratio = capped.sample_weight_[50] / capped.sample_weight_[0]
    # sqrt(3) clipped down to 1.2, sqrt(0.6) clipped up to 1/1.2
    assert ratio == pytest.approx(1.2 * 1.2)
    noisy = NegativeSampler(
        swap_random=0,
        swap_near=0,
        swap_far=0,
        response_mismatch=0,
        label_noise=0.5,
        random_state=0,
    )
    _, yn = noisy.fit_resample(X, y)
    assert 0.3 < np.std(yn[:50] - 9.0) < 0.7 and (yn >= 0).all() and (yn <= 10).all()
    _, yn2 = noisy.fit_resample(X, y)
    np.testing.assert_array_equal(yn, yn2)  # seeded


def test_metric_names_accepts_an_array():
    import pandas as pd

    from gbscore.augment import NegativeSampler

    X = pd.DataFrame(
        {
            "metric_name": ["a", "a"],
            "system_prompt": None,
            "user_prompt": ["x", "y"],
            "response": ["r", "s"],
        }
    )
    sampler = NegativeSampler(metric_names=np.array(["a", "b", "c"]), random_state=0)
    sampler.fit_resample(X, [9.0, 9.0])
    assert set(sampler.metric_names_) == {"a", "b", "c"}


# -- opposite and substitutable metrics -------------------------------------------------

RELATION_METRICS = [
    "rejection_rate/over_rejection",
    "rejection_rate/under_rejection",
    "rejection_rate",
    "data_integrity",
    "data_integrity_checks",
    "bias_assessment",
    "bias_detection",
    "toxicity_level/explicit_toxicity",
    "toxicity_level/group_targeted_toxicity",
]


def _relation_similarity():
    n = len(RELATION_METRICS)
    sim = np.full((n, n), 0.2)
    sim[7, 8] = sim[8, 7] = 0.99  # siblings: nearest by their shared family words
    sim[5, 6] = sim[6, 5] = 0.9  # the nearest pair across families
    np.fill_diagonal(sim, 1.0)
    return sim


def _pairs(matrix):
    return {
        (RELATION_METRICS[i], RELATION_METRICS[j])
        for i, j in zip(*np.nonzero(np.triu(matrix)), strict=True)
    }


def test_metric_relations_from_names_and_embeddings():
    from gbscore.augment import metric_relations

    # 32 cross-family pairs: the top 4% holds one pair (3% would hold none).
    opposite, subs = metric_relations(
        RELATION_METRICS, _relation_similarity(), substitutable_quantile=0.96
    )
    assert _pairs(opposite) == {("rejection_rate/over_rejection", "rejection_rate/under_rejection")}
    assert _pairs(subs) == {
        ("rejection_rate/over_rejection", "rejection_rate"),  # family and member
        ("rejection_rate/under_rejection", "rejection_rate"),
        ("data_integrity", "data_integrity_checks"),  # 2 of 3 content words shared
        ("bias_assessment", "bias_detection"),  # top cross-family similarity
    }
    for m in (opposite, subs):
        np.testing.assert_array_equal(m, m.T)
        assert not m.diagonal().any()
    # quantile 1.0: names only.
    _, names_only = metric_relations(
        RELATION_METRICS, _relation_similarity(), substitutable_quantile=1.0
    )
    assert ("bias_assessment", "bias_detection") not in _pairs(names_only)


def test_tied_similarities_make_no_pair_substitutable():
    """Names that share no word have TF-IDF similarity 0: the whole tie class sits at the
    quantile cut-off, and none of it is a near-synonym."""
    from gbscore.augment import metric_relations

    names = ["jailbreak", "toxicity_level/explicit", "privacy_leakage/pii", "fluency_score"]
    _, subs = metric_relations(names, np.eye(len(names)), substitutable_quantile=0.5)
    assert not subs.any()
    # A few metrics: the default top 0.2% of 6 pairs holds no pair, however similar.
    sim = np.full((4, 4), 0.4) + 0.6 * np.eye(4)
    sim[0, 3] = sim[3, 0] = 0.9
    assert not metric_relations(names, sim)[1].any()
    sim = np.eye(len(names))
    sim[0, 3] = sim[3, 0] = 0.9  # one clear top pair is still found
    _, subs = metric_relations(names, sim, substitutable_quantile=0.5)
    assert [tuple(ij) for ij in np.argwhere(np.triu(subs))] == [(0, 3)]


def test_metric_relations_on_the_real_metric_names():
    import json
    from pathlib import Path

    from gbscore.augment import metric_relations

    data = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    if not (data / "metric_names.json").is_file():
        pytest.skip("../shared/data is not here")
    names = json.loads((data / "metric_names.json").read_text())
    emb = np.load(data / "metric_name_embeddings.npy")
    opposite, subs = metric_relations(names, emb @ emb.T)
    got = {
        frozenset(p)
        for p in zip(*[np.asarray(names)[i] for i in np.nonzero(opposite)], strict=True)
    }
    assert (
        frozenset(
            (
                "efficacy_to_content_filtering/false_positives",
                "efficacy_to_content_filtering/false_negatives",
            )
        )
        in got
    )
    assert (
        frozenset(
            (
                "confidence_agreement/overconfident_incorrectness",
                "confidence_agreement/underconfident_correctness",
            )
        )
        in got
    )
    i, j = names.index("misuse"), names.index("misuse/instruction_misuse")
    assert subs[i, j]
    # Siblings stay merely related unless their own words overlap.
    i, j = (
        names.index("jailbreak/roleplay_based_jailbreak"),
        names.index("jailbreak/prompt_injection_jailbreak"),
    )
    assert not subs[i, j] and not opposite[i, j]


def test_similarity_policy_opposite_and_substitutable_bands():
    n = 180
    X = pd.DataFrame(
        {
            "metric_name": [RELATION_METRICS[i % len(RELATION_METRICS)] for i in range(n)],
            "system_prompt": "",
            "user_prompt": [f"question {i}" for i in range(n)],
            "response": [f"answer {i}" for i in range(n)],
        }
    )
    y = np.full(n, 10.0)
    names = sorted(RELATION_METRICS)  # embedding rows are looked up by name, in any order
    emb = pd.DataFrame(np.eye(len(names)), index=names)  # no embedding substitutes
    bands = {"opposite": (0.5, 1.5), "substitutable": (8.5, 9.5)}
    policy = SimilarityLabels(n_related=0, general_metrics=None, **bands)
    s = NegativeSampler(swap_random=6, label_policy=policy, metric_embeddings=emb, random_state=0)
    Xr, yr = s.fit_resample(X, y)
    source = X["metric_name"].to_numpy()[s.sample_indices_]
    target = Xr["metric_name"].to_numpy()
    for rel, (lo, hi) in bands.items():
        m = s.relation_ == rel
        assert m.any(), rel
        assert ((yr[m] >= lo) & (yr[m] <= hi)).all(), rel
    opp = s.relation_ == "opposite"
    assert {frozenset(p) for p in zip(source[opp], target[opp], strict=True)} == {
        frozenset(("rejection_rate/over_rejection", "rejection_rate/under_rejection"))
    }
    sub = s.relation_ == "substitutable"
    assert frozenset(("data_integrity", "data_integrity_checks")) in {
        frozenset(p) for p in zip(source[sub], target[sub], strict=True)
    }
    # The default policy has both bands: opposite as low as a mismatch, substitutable high.
    default = NegativeSampler(
        swap_random=6,
        label_policy=SimilarityLabels(n_related=0, general_metrics=None),
        metric_embeddings=emb,
        random_state=0,
    )
    _, yd = default.fit_resample(X, y)
    for rel, (lo, hi) in {"opposite": (0.0, 3.0), "substitutable": (6.5, 9.5)}.items():
        m = default.relation_ == rel
        assert m.any(), rel
        assert ((yd[m] >= lo) & (yd[m] <= hi)).all(), rel
    # Without the bands (None, JSON null) those pairs fall back to related / unrelated.
    plain = NegativeSampler(
        swap_random=6,
        label_policy=SimilarityLabels(
            n_related=0, general_metrics=None, opposite=None, substitutable=None
        ),
        metric_embeddings=emb,
        random_state=0,
    )
    plain.fit_resample(X, y)
    assert set(plain.relation_[len(X) :]) <= {"related", "unrelated", "mismatch"}


def test_relation_bands_round_trip_through_a_config_spec():
    from gbscore.config import label_policy_from_spec, label_policy_to_spec

    spec = {"kind": "similarity", "opposite": [0, 2], "substitutable": [7, 9.5]}
    policy = label_policy_from_spec(spec)
    assert policy.opposite == (0.0, 2.0) and policy.substitutable == (7.0, 9.5)
    back = label_policy_to_spec(policy)
    assert back["opposite"] == [0.0, 2.0] and back["substitutable"] == [7.0, 9.5]
    assert label_policy_to_spec(SimilarityLabels())["opposite"] == [0.0, 3.0]
    off = label_policy_from_spec({"kind": "similarity", "opposite": None, "substitutable": None})
    assert off.opposite is None and off.substitutable is None
    assert label_policy_to_spec(off)["opposite"] is None
    with pytest.raises(ValueError, match="opposite"):
        NegativeSampler(label_policy=SimilarityLabels(opposite=(5, 1))).fit_resample(*make_table())


def test_missing_text_is_the_same_conversation_as_empty_text():
    X = pd.DataFrame(
        {
            "metric_name": ["a", "b", "c", "d"],
            "system_prompt": [None, "", np.nan, "sys"],
            "user_prompt": ["hi", "hi", "hi", "hi"],
            "response": ["r", "r", "r", "r"],
        }
    )
    g = conversation_groups(X)
    assert g[0] == g[1] == g[2] != g[3]
