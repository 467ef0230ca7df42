import numpy as np
import pandas as pd
import pytest

from gbscore.features import MetricMatchFeatures

TOPICS = {
    "toxicity/explicit": "insult slur abusive hateful language toxic words",
    "privacy/pii": "phone number address aadhaar personal data private details",
    "jailbreak": "ignore previous instructions roleplay pretend bypass rules",
    "fluency/grammar": "grammar sentence spelling punctuation fluent phrasing",
}


def table(n_per=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for metric, words in TOPICS.items():
        vocab = words.split()
        for i in range(n_per):
            text = " ".join(rng.choice(vocab, size=8)) + f" filler{i % 5} common words here"
            rows.append(
                {
                    "metric_name": metric,
                    "system_prompt": "",
                    "user_prompt": f"q {i}",
                    "response": text,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("classifier", ["centroid", "logistic"])
def test_own_metric_scores_higher_than_a_swapped_one(classifier):
    X = table()
    y = np.full(len(X), 9.0)
    mm = MetricMatchFeatures(classifier=classifier, n_splits=3).fit(X, y)
    swapped = X.copy()
    swapped["metric_name"] = np.roll(
        X["metric_name"].to_numpy(), 30
    )  # every row gets another topic's metric
    own = mm.transform(X)[:, 0]
    other = mm.transform(swapped)[:, 0]
    assert (own > other).mean() > 0.95
    names = list(mm.get_feature_names_out())
    assert names[0] == "match_p__metric" and len(names) == mm.transform(X).shape[1]


def test_fit_transform_is_cross_fitted():
    """In-sample probabilities would be near-certain; cross-fitted ones come from models that
    never saw the row's conversation, so they differ from transform() after fit."""
    X = table()
    y = np.full(len(X), 9.0)
    mm = MetricMatchFeatures(n_splits=4)
    crossed = mm.fit_transform(X, y)
    in_sample = mm.transform(X)
    assert crossed.shape == in_sample.shape == (len(X), 5)
    assert not np.allclose(crossed, in_sample)


def test_low_scores_teach_nothing():
    X = table()
    y = np.full(len(X), 9.0)
    # the same texts labelled as fitting another metric, but with a low score: no effect
    noise = X.copy()
    noise["metric_name"] = np.roll(X["metric_name"].to_numpy(), 30)
    both = pd.concat([X, noise], ignore_index=True)
    a = MetricMatchFeatures().fit(X, y).transform(X)
    b = MetricMatchFeatures().fit(both, np.r_[y, np.full(len(X), 1.0)]).transform(X)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_unknown_metric_gets_zero_probability():
    X = table()
    mm = MetricMatchFeatures().fit(X, np.full(len(X), 9.0))
    Z = X.iloc[:3].assign(metric_name="never_seen")
    out = mm.transform(Z)
    assert (out[:, 0] == 0).all() and (out[:, 2] > 0).all()


def test_needs_y_and_columns():
    X = table()
    with pytest.raises(ValueError, match="needs y"):
        MetricMatchFeatures().fit(X, None)
    with pytest.raises(ValueError, match=r"lacks the columns \['response'\]"):
        MetricMatchFeatures().fit(X.drop(columns="response"), np.ones(len(X)))


def test_char_ngrams_match_other_word_forms():
    """Test texts that use other forms of the training words ("insulting" for "insult"): the
    word analyzer shares no term with them, character n-grams inside words do."""
    X = table()
    y = np.full(len(X), 9.0)
    inflected = {
        "toxicity/explicit": "insulting slurs abusively hatefully toxicity",
        "privacy/pii": "phones numbers addresses personally privately",
        "jailbreak": "ignoring instructed roleplaying pretending bypassing",
        "fluency/grammar": "grammatical sentences spellings punctuated fluently",
    }
    test = pd.DataFrame(
        {"metric_name": m, "system_prompt": "", "user_prompt": "q", "response": text}
        for m, text in inflected.items()
    )
    own = {}
    for analyzer in ("word", "char_wb"):
        mm = MetricMatchFeatures(analyzer=analyzer).fit(X, y)
        own[analyzer] = mm.transform(test)[:, 0]  # P(own metric); 1/4 is no signal
    assert (own["char_wb"] > 0.5).all()
    assert (own["word"] < 0.3).all()


def test_analyzer_is_validated():
    with pytest.raises(ValueError, match="analyzer"):
        MetricMatchFeatures(analyzer="bigram").fit(table(), np.full(120, 9.0))


def test_nearest_cosine_says_how_new_the_phrasing_is():
    X = table()
    y = np.full(len(X), 9.0)
    mm = MetricMatchFeatures(nearest=True, n_splits=3)
    crossed = mm.fit_transform(X, y)
    names = list(mm.get_feature_names_out())
    assert names[-1] == "match_nearest_cos" and crossed.shape == (len(X), len(names))
    # cross-fitted: a row never meets its own conversation, whose cosine would be 1
    assert crossed[:, -1].max() < 0.999
    np.testing.assert_allclose(mm.transform(X)[:, -1], 1.0, atol=1e-5)
    seen = X.iloc[:4].assign(user_prompt="q 1")  # a training conversation's words
    new = X.iloc[:4].assign(user_prompt="entirely", response="different wording altogether")
    assert (mm.transform(new)[:, -1] < 0.2).all() and (mm.transform(seen)[:, -1] > 0.5).all()
    # off by default: five columns, as before
    assert MetricMatchFeatures().fit(X, y).transform(X).shape == (len(X), 5)


def test_metric_name_words_are_the_minor_names_own_words():
    names = [
        "privacy/pii_leakage_prompts",
        "privacy",
        "toxicity/explicit_privacy_slur",
        "jailbreak",
    ]
    # 'privacy' is a family word, 'pii' is under 4 letters, both stay in texts
    from gbscore.augment import metric_name_words

    assert metric_name_words(names) == ["explicit", "leakage", "prompts", "slur"]


def test_ignore_metric_words_matches_from_the_other_words():
    """Training texts that name their metric ('explicit', 'pii'...) teach nothing through those
    words when they are ignored: a test text made of them alone carries no signal, while the
    topic words still do."""
    rng = np.random.default_rng(1)
    names = {
        "toxicity/slur_explicit": "slur explicit",
        "privacy/aadhaar_leakage": "aadhaar leakage",
    }
    topic = {
        "toxicity/slur_explicit": "insult hateful abusive",
        "privacy/aadhaar_leakage": "phone address",
    }
    rows = [
        {"metric_name": m, "system_prompt": "", "user_prompt": f"q {i}",
         "response": " ".join(rng.permutation((names[m] + " " + topic[m]).split()))}
        for m in names for i in range(20)
    ]  # fmt: skip
    X = pd.DataFrame(rows)
    y = np.full(len(X), 9.0)
    by_name = pd.DataFrame(
        {"metric_name": m, "system_prompt": "", "user_prompt": "q", "response": names[m]}
        for m in names
    )
    by_topic = by_name.assign(response=[topic[m] for m in names])
    plain = MetricMatchFeatures().fit(X, y)
    ignoring = MetricMatchFeatures(ignore_metric_words=True).fit(X, y)
    assert ignoring.ignored_words_ == ["aadhaar", "explicit", "leakage", "slur"]
    assert (plain.transform(by_name)[:, 0] > 0.9).all()
    np.testing.assert_allclose(ignoring.transform(by_name)[:, 0], 0.5, atol=1e-6)
    assert (ignoring.transform(by_topic)[:, 0] > 0.9).all()
