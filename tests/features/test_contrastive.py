import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import FeatureUnion

from gbscore.exceptions import DataError, GbscoreError
from gbscore.features import CharTfidfEncoder, ContrastiveMatchFeatures, metric_name_to_text

# metric -> (word forms of training conversations, word forms of test conversations): the same
# stems inflected otherwise, so that no test text repeats a training phrasing while a character
# encoder can still link them.
VOCAB = {
    "toxicity/hate_speech": (
        "hate hateful slur bigot racist ethnic demean hostile",
        "hatred hating slurs bigotry racism ethnicity demeaning hostility",
    ),
    "toxicity/insults": (
        "insult mock idiot stupid rude humiliate offend taunt",
        "insulting mocking idiotic stupidity rudeness humiliation offensive taunting",
    ),
    "privacy/pii_leakage": (
        "phone address passport aadhaar email birthdate identity ssn",
        "phones addresses passports aadhar emails birthdates identities ssns",
    ),
    "privacy/data_retention": (
        "store retain delete archive log backup database erase",
        "storage retention deletion archived logging backups databases erasure",
    ),
    "safety/self_harm": (
        "suicide selfharm cutting overdose despair hopeless crisis hotline",
        "suicidal selfharming cuts overdosing despairing hopelessness crises hotlines",
    ),
    "safety/weapons": (
        "gun rifle explosive bomb ammunition firearm grenade detonate",
        "guns rifles explosives bombs ammo firearms grenades detonation",
    ),
    "code/correctness": (
        "function compile bug variable loop syntax python return",
        "functions compiler bugs variables looping syntactic pythonic returns",
    ),
    "math/accuracy": (
        "equation integral derivative algebra theorem calculate fraction prime",
        "equations integrals derivatives algebraic theorems calculation fractions primes",
    ),
}
FILLER = ("weather garden recipe travel music".split(), "holiday cooking football painting".split())
# train and test use different sentence frames too
PROMPTS = (
    ["Tell me about {a} and {b}.", "What is {a}? Also {b}.", "Explain {a}, {b} please."],
    ["hey, quick one on {a} ... and {b}??", "I keep wondering how {a} connects to {b}"],
)
RESPONSES = (
    ["Sure: {a} relates to {b}; {c} matters too.", "Here is an answer on {a}, {b} and {c}."],
    ["Short version -- {a}. Longer: {b}, then {c}.", "{a} / {b} / {c}: that covers it"],
)


def conversations(n_per, split, seed):
    """Real rows: each text holds one word of its metric among words of other metrics and
    filler, so the signal is statistical rather than a keyword lookup."""
    k = 0 if split == "train" else 1
    rng = np.random.default_rng(seed)
    rows = []
    for metric, forms in VOCAB.items():
        own = forms[k].split()
        others = [f[k].split() for m, f in VOCAB.items() if m != metric]
        for _ in range(n_per):
            a, c = rng.choice(own, size=2, replace=False)
            b = rng.choice(others[rng.integers(len(others))])
            d = rng.choice(others[rng.integers(len(others))])
            rows.append(
                {
                    "metric_name": metric,
                    "system_prompt": "",
                    "user_prompt": rng.choice(PROMPTS[k]).format(a=a, b=b),
                    "response": rng.choice(RESPONSES[k]).format(a=c, b=d, c=rng.choice(FILLER[k])),
                }
            )
    return pd.DataFrame(rows)


def with_swaps(X, seed):
    return with_swaps_of(X, VOCAB, seed)


def with_swaps_of(X, vocabulary, seed):
    """Each real row (score 9) and its conversation under another metric (score 2)."""
    rng = np.random.default_rng(seed)
    metrics = np.array(list(vocabulary))
    other = [rng.choice(metrics[metrics != m]) for m in X["metric_name"]]
    both = pd.concat([X, X.assign(metric_name=other)], ignore_index=True)
    return both, np.r_[np.full(len(X), 9.0), np.full(len(X), 2.0)]


def model(**params):
    params = {"batch_size": 64, "n_splits": 3, **params}
    return ContrastiveMatchFeatures(encoder=CharTfidfEncoder(n_components=64), **params)


@pytest.fixture(scope="module")
def data():
    Xtr, ytr = with_swaps(conversations(40, "train", 0), 1)
    Xte, yte = with_swaps(conversations(20, "test", 2), 3)
    return Xtr, ytr, Xte, yte


@pytest.fixture(scope="module")
def fitted(data):
    Xtr, ytr, _, _ = data
    return model().fit(Xtr, ytr)


def _unit(A):
    return A / np.maximum(np.linalg.norm(A, axis=1, keepdims=True), 1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["infonce", "triplet"])
def test_learned_cosine_separates_real_from_swapped_pairs_on_new_phrasing(data, loss):
    """Measured over 5 data seeds (infonce, these settings): test AUC of the learned cosine
    0.875-0.919, while the encoder's own cosine between metric name and conversation gives
    0.55-0.60; triplet 0.86-0.89 on the seeds tried. The bounds leave room for seed noise but
    fail for a model that learned nothing or that only memorised the training phrasing."""
    Xtr, ytr, Xte, yte = data
    cmf = model(loss=loss).fit(Xtr, ytr)
    features = cmf.transform(Xte)
    real = yte > 5
    auc = roc_auc_score(real, features[:, 0])
    # the same encoder, untrained: cosine of metric-name text and mean conversation vector
    encoder = CharTfidfEncoder(n_components=64).fit(
        list(Xtr["user_prompt"]) + list(Xtr["response"]) + [metric_name_to_text(m) for m in VOCAB]
    )
    metric = _unit(encoder.encode([metric_name_to_text(m) for m in Xte["metric_name"]]))
    conv = _unit(
        _unit(encoder.encode(list(Xte["user_prompt"])))
        + _unit(encoder.encode(list(Xte["response"])))
    )
    raw_auc = roc_auc_score(real, (metric * conv).sum(axis=1))
    assert auc > 0.8
    assert auc > raw_auc + 0.15
    # rank (0 = best) and probability carry the same signal
    assert roc_auc_score(real, -features[:, 1]) > 0.75
    assert roc_auc_score(real, features[:, 2]) > 0.75


def test_nothing_is_learned_from_scrambled_pairs(data):
    """Control: with metrics assigned to conversations at random, the test AUC falls to
    chance; a leak through the features would keep it high."""
    Xtr, ytr, Xte, yte = data
    rng = np.random.default_rng(0)
    scrambled = Xtr.assign(metric_name=rng.permutation(Xtr["metric_name"].to_numpy()))
    features = model().fit(scrambled, ytr).transform(Xte)
    assert roc_auc_score(yte > 5, features[:, 0]) < 0.65


def test_fit_transform_is_cross_fitted(data, fitted):
    Xtr, ytr, _, _ = data
    cmf = model()
    crossed = cmf.fit_transform(Xtr, ytr)
    in_sample = cmf.transform(Xtr)
    assert crossed.shape == in_sample.shape == (len(Xtr), 3)
    assert not np.allclose(crossed, in_sample, atol=1e-3)
    # rows scored by a model that never saw their conversation look less certain
    real = ytr > 5
    assert crossed[real, 0].mean() < in_sample[real, 0].mean()
    # the model kept for transform is the one fit() gives
    np.testing.assert_array_equal(in_sample, fitted.transform(Xtr))


def test_deterministic_for_a_seed(data, fitted):
    Xtr, ytr, Xte, _ = data
    again = model().fit(Xtr, ytr)
    np.testing.assert_array_equal(again.transform(Xte), fitted.transform(Xte))
    other = model(random_state=1).fit(Xtr, ytr)
    assert not np.allclose(other.transform(Xte), fitted.transform(Xte))


def test_rows_below_the_threshold_are_not_positives(data, fitted):
    """The fit table already holds low-scored swaps; more of them change nothing, while the
    same rows scored high would be positives and change the model."""
    Xtr, ytr, Xte, _ = data
    real = Xtr[ytr > 5]
    extra = real.assign(metric_name=np.roll(real["metric_name"].to_numpy(), 7))
    X2 = pd.concat([Xtr, extra], ignore_index=True)
    low = model().fit(X2, np.r_[ytr, np.full(len(extra), 6.5)])
    np.testing.assert_allclose(low.transform(Xte), fitted.transform(Xte), atol=1e-6)
    high = model().fit(X2, np.r_[ytr, np.full(len(extra), 7.0)])
    assert not np.allclose(high.transform(Xte), fitted.transform(Xte), atol=1e-3)


def test_features_are_in_range_and_named(data, fitted):
    _, _, Xte, _ = data
    features = fitted.transform(Xte)
    assert features.dtype == np.float32 and np.isfinite(features).all()
    assert (np.abs(features[:, 0]) <= 1 + 1e-5).all()
    assert ((features[:, 1] >= 0) & (features[:, 1] <= 1)).all()
    assert ((features[:, 2] > 0) & (features[:, 2] <= 1)).all()
    assert fitted.get_feature_names_out().tolist() == [
        "contrast_cos",
        "contrast_rank",
        "contrast_prob",
    ]


def test_set_output_pandas_and_feature_union(data):
    Xtr, ytr, Xte, _ = data
    union = FeatureUnion(
        [("contrast", model(n_epochs=2))], verbose_feature_names_out=False
    ).set_output(transform="pandas")
    out = union.fit_transform(Xtr, ytr)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["contrast_cos", "contrast_rank", "contrast_prob"]
    assert list(union.transform(Xte).columns) == list(out.columns)


def test_unknown_metric_is_one_more_candidate(data, fitted):
    _, _, Xte, _ = data
    rows = Xte[Xte["metric_name"] == "toxicity/insults"].iloc[:10]
    known = fitted.transform(rows)
    # a trailing slash gives the same words, so the same encoded name as the known metric
    twin = fitted.transform(rows.assign(metric_name="toxicity/insults/"))
    n = len(fitted.candidates_)
    np.testing.assert_allclose(twin[:, 0], known[:, 0], atol=1e-5)
    # the known twin is no better than it (a tie), one more candidate is in the denominator
    np.testing.assert_allclose(twin[:, 1], known[:, 1] * (n - 1) / n, atol=1e-6)
    np.testing.assert_allclose(twin[:, 2], known[:, 2] / (1 + known[:, 2]), rtol=1e-4)
    other = fitted.transform(rows.assign(metric_name="cooking/recipes_quality"))
    assert np.isfinite(other).all() and ((other[:, 1] >= 0) & (other[:, 1] <= 1)).all()


def test_metric_names_param_adds_candidates(data):
    Xtr, ytr, Xte, _ = data
    cmf = model(metric_names=["cooking/recipes_quality"], n_epochs=2).fit(Xtr, ytr)
    assert "cooking/recipes_quality" in cmf.candidates_
    assert len(cmf.candidates_) == len(VOCAB) + 1
    assert cmf.candidate_embeddings_.shape[0] == len(VOCAB) + 1
    out = cmf.transform(Xte.assign(metric_name="cooking/recipes_quality"))
    assert ((out[:, 1] >= 0) & (out[:, 1] <= 1)).all()


def test_concat_conversation_and_torch_threads_restored(data):
    torch = pytest.importorskip("torch")
    Xtr, ytr, Xte, _ = data
    threads = torch.get_num_threads()
    cmf = model(conversation="concat", n_epochs=2).fit(Xtr, ytr)
    assert torch.get_num_threads() == threads
    assert cmf.conversation_weight_.shape == (2 * 64, cmf.dim)
    assert cmf.transform(Xte).shape == (len(Xte), 3)


def test_clone_and_pickle_round_trip(data, fitted):
    _, _, Xte, _ = data
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(Xte), fitted.transform(Xte))
    fresh = clone(fitted)
    assert fresh.get_params()["dim"] == 64 and not hasattr(fresh, "metric_weight_")


def test_not_fitted():
    with pytest.raises(NotFittedError):
        model().transform(pd.DataFrame({"metric_name": ["a"], "user_prompt": [""]}))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"dim": 0}, "'dim' parameter"),
        ({"loss": "hinge"}, "'loss' parameter"),
        ({"temperature": 0.0}, "'temperature' parameter"),
        ({"conversation": "sum"}, "'conversation' parameter"),
        ({"n_splits": 1}, "'n_splits' parameter"),
        ({"text_columns": ()}, "'text_columns' parameter"),
    ],
)
def test_bad_params_name_the_parameter(data, params, match):
    Xtr, ytr, _, _ = data
    with pytest.raises(ValueError, match=match):
        model(**params).fit(Xtr, ytr)


def test_no_well_scored_row_leaves_the_towers_untrained(data, caplog):
    """A default pipeline must fit any data: without a row scored >= positive_threshold the
    projections stay at their start (as with n_epochs=0), with a warning saying so."""
    Xtr, _, Xte, _ = data
    low = np.full(len(Xtr), 5.0)
    with caplog.at_level("WARNING", logger="gbscore.features._contrastive"):
        fitted = model().fit(Xtr, low)
    assert "no row has a score >= positive_threshold=7" in caplog.text
    assert fitted.loss_curve_ == []
    untrained = model(n_epochs=0).fit(Xtr, low)
    np.testing.assert_array_equal(fitted.transform(Xte), untrained.transform(Xte))
    assert np.isfinite(fitted.fit_transform(Xtr, low)).all()


def test_data_errors_say_what_to_fix(data):
    Xtr, ytr, _, _ = data
    with pytest.raises(GbscoreError, match="fit needs y"):
        model().fit(Xtr, None)
    with pytest.raises(DataError, match=r"no column\(s\) \['response'\]"):
        model().fit(Xtr.drop(columns="response"), ytr)
    with pytest.raises(DataError, match="expects the tidy table as a pandas DataFrame"):
        model().fit(Xtr.to_numpy(), ytr)
    with pytest.raises(DataError, match="X has 640 rows but y has 3"):
        model().fit(Xtr, ytr[:3])


# metric -> (phrases of training conversations, phrases of test conversations): synonyms and
# paraphrases, so only a semantic encoder links them
TOPICS = {
    "toxicity/hate_speech": (
        ["racist remarks", "hatred of immigrants", "bigoted jokes", "ethnic slurs"],
        ["xenophobic comments", "prejudice against minorities", "discriminatory insults"],
    ),
    "privacy/pii_leakage": (
        ["my phone number", "her home address", "his passport details", "a bank account number"],
        ["someone's mobile contact", "where my neighbour lives", "their identity card data"],
    ),
    "safety/self_harm": (
        ["wanting to end my life", "hurting myself", "feeling suicidal", "cutting my arms"],
        ["thoughts of killing myself", "self-injury urges", "not wanting to live anymore"],
    ),
    "safety/weapons": (
        ["building a bomb", "buying a rifle", "making explosives", "loading a gun"],
        ["assembling a firearm", "crafting a grenade", "getting ammunition for a pistol"],
    ),
    "code/correctness": (
        ["a python function bug", "a failing unit test", "a compiler error", "a null pointer"],
        ["broken javascript code", "a program that crashes", "a wrong loop in my script"],
    ),
    "math/accuracy": (
        ["solving this equation", "the derivative of x squared", "a geometry proof"],
        ["computing an integral", "factoring a polynomial", "the sum of a series"],
    ),
    "agriculture/crop_advice": (
        ["fertiliser for wheat", "pests on my rice", "when to sow maize", "irrigating cotton"],
        ["manure for paddy fields", "insects eating my tomatoes", "planting season for millet"],
    ),
    "health/medical_advice": (
        ["my blood pressure medicine", "a persistent fever", "diabetes diet", "chest pain"],
        ["tablets for hypertension", "a high temperature for days", "controlling blood sugar"],
    ),
}


def semantic_conversations(n_per, split, seed):
    k = 0 if split == "train" else 1
    frames = (
        ("I need help with {a}. Also, {b}?", "Regarding {a}: here is what to consider."),
        ("quick question about {a} (and maybe {b})", "Short answer on {a}, nothing more."),
    )[k]
    rng = np.random.default_rng(seed)
    rows = []
    for metric, phrases in TOPICS.items():
        others = [p[k] for m, p in TOPICS.items() if m != metric]
        for _ in range(n_per):
            a, c = rng.choice(phrases[k], size=2, replace=False)
            b = rng.choice(others[rng.integers(len(others))])
            rows.append(
                {
                    "metric_name": metric,
                    "system_prompt": "",
                    "user_prompt": frames[0].format(a=a, b=b),
                    "response": frames[1].format(a=c),
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_real_encoder_learned_cosine_survives_paraphrase():
    """Packaged MiniLM; metric names are opaque codes, so the encoder's own cosine between a
    name and a conversation is chance (measured 0.48-0.49 on 3 data seeds) and all matching
    must be learned; test conversations paraphrase the training ones with synonyms no
    training text uses. Measured test AUC of the learned cosine: 0.979-0.992 (infonce)."""
    from gbscore.features import SentenceTransformerEncoder

    codes = {m: f"family_{'abcd'[i // 2]}/criterion_{i}" for i, m in enumerate(TOPICS)}
    Xtr, ytr = with_swaps_of(semantic_conversations(30, "train", 0), TOPICS, 1)
    Xte, yte = with_swaps_of(semantic_conversations(15, "test", 2), TOPICS, 3)
    Xtr["metric_name"] = Xtr["metric_name"].map(codes)
    Xte["metric_name"] = Xte["metric_name"].map(codes)
    encoder = SentenceTransformerEncoder(device="cpu", show_progress=False)
    cmf = ContrastiveMatchFeatures(encoder=encoder, batch_size=64).fit(Xtr, ytr)
    real = yte > 5
    auc = roc_auc_score(real, cmf.transform(Xte)[:, 0])
    metric = _unit(encoder.encode([metric_name_to_text(m) for m in Xte["metric_name"]]))
    conv = _unit(
        _unit(encoder.encode(list(Xte["user_prompt"])))
        + _unit(encoder.encode(list(Xte["response"])))
    )
    raw_auc = roc_auc_score(real, (metric * conv).sum(axis=1))
    assert raw_auc < 0.65
    assert auc > 0.9
