"""Synthetic LLM-judge data in the competition format, for offline demos and tests.

Every conversation is written *for* one metric (:mod:`._conversation` writes it): the
metric's theme (chosen from keywords in its name, see :data:`._text.THEMES`) decides what
the user asks and what a good answer contains, and a deployed-assistant domain supplies
the system prompt and the facts. Train rows are all such matched pairs, with the real
label skew; a low score always comes with a visible defect (empty or one-line answer,
off-topic answer, wrong language, harmful compliance, invented citation...). The test set
is shifted like the real one: a share of its rows pairs a conversation with another
metric, and a simulated judge scores those by how related the metric is to the
conversation.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from ..exceptions import ConfigError
from . import _text as T
from ._conversation import Draw, write_conversation
from ._packaged import (
    EMBEDDINGS_FILE,
    NAMES_FILE,
    load_metric_embeddings,
    load_metric_names,
    packaged_bytes,
)

__all__ = ["DemoData", "make_judge_data", "write_demo_data"]

TEXT_COLUMNS = ("metric_name", "system_prompt", "user_prompt", "response")

# Share of each train label, from the real competition labels (0-5 pooled as "low").
_TIER_SHARES = {10.0: 0.285, 9.0: 0.625, 8.0: 0.052, 7.0: 0.019, 6.0: 0.009, "low": 0.010}
# Visible defects behind low scores: weight when drawn, and the judge's score range.
_DEFECTS = {
    "empty": (0.25, (0, 1)),
    "theme_bad": (0.30, None),  # range comes from the theme
    "off_topic": (0.15, (2, 4)),
    "short": (0.15, (1, 3)),
    "wrong_language": (0.15, (2, 5)),
}
# Where a swapped-in test metric comes from.
_SWAP_GENERAL, _SWAP_RELATED = 0.20, 0.25


# --------------------------------------------------------------------------- metric table


def _theme_of(name: str) -> str:
    """Theme of a metric: the first theme with a keyword occurring in its name."""
    for theme, spec in T.THEMES.items():
        if any(keyword in name for keyword in spec["keywords"]):
            return theme
    return "general"


def _is_general(name: str) -> bool:
    """Whether a judge would score this metric fairly high on any conversation."""
    return name in T.GENERAL_EXACT or any(k in name for k in T.GENERAL_KEYWORDS)


class _Metrics:
    """Themes, families and swap pools of the metric list."""

    def __init__(self, names: list[str]):
        self.names = names
        self.themes = [_theme_of(n) for n in names]
        self.families = [n.split("/", 1)[0] for n in names]
        self.general = [_is_general(n) for n in names]
        self.related, self.unrelated, self.general_pool = [], [], []
        for i in range(len(names)):
            rel, unrel, gen = [], [], []
            for j in range(len(names)):
                if j == i:
                    continue
                if self.general[j]:
                    gen.append(j)
                elif self.families[j] == self.families[i] or self.themes[j] == self.themes[i]:
                    rel.append(j)
                else:
                    unrel.append(j)
            self.related.append(rel)
            self.unrelated.append(unrel)
            self.general_pool.append(gen)


def _quota(n: int, shares: dict, d: Draw) -> list:
    """``n`` labels in the given shares (largest remainder), in random order."""
    keys = list(shares)
    raw = np.asarray([shares[k] for k in keys]) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    labels = [k for k, c in zip(keys, counts, strict=True) for _ in range(c)]
    return [labels[i] for i in d.rng.permutation(n)]


def _low_row(d: Draw, theme: str, force_empty: bool) -> tuple[str, float]:
    """Pick the visible defect behind a low score, and the score it earns."""
    defect = "empty" if force_empty else d.weighted({k: w for k, (w, _) in _DEFECTS.items()})
    if defect == "theme_bad" and "bad" not in T.THEMES[theme]:
        defect = "wrong_language"
    lo, hi = _DEFECTS[defect][1] or T.THEMES[theme]["bad_scores"]
    score = 0 if defect == "empty" and d.chance(0.8) else d.between(lo, hi)
    return defect, float(score)


def _rows(d: Draw, metrics: _Metrics, n: int, weights: np.ndarray, *, allow_half: bool):
    """``n`` matched rows: conversations written for their metric, with judge scores."""
    picks = d.rng.choice(len(metrics.names), size=n, p=weights)
    tiers = _quota(n, _TIER_SHARES, d)
    if allow_half and n >= 50:  # the real train labels hold exactly one 9.5
        tiers[tiers.index(9.0)] = 9.5
    rows, first_low = [], True
    for idx, tier in zip(picks, tiers, strict=True):
        name, theme = metrics.names[idx], metrics.themes[idx]
        if tier == "low":
            defect, score = _low_row(d, theme, first_low)
            first_low = False
            quality = 9.0
        else:
            defect, score = None, float(tier)
            quality = 9.0 if tier == 9.5 else float(tier)
        row = write_conversation(d, name, theme, quality, defect)
        row.update(metric=int(idx), score=score, quality=quality)
        rows.append(row)
    return rows


def _judge_swap(d: Draw, row: dict, kind: str) -> float:
    """The simulated judge's score for a conversation paired with another metric."""
    broken = row["defect"] is not None
    if kind == "general":
        if broken:
            return float(d.between(0, 3))
        return float(d.pick((5, 6, 7, 7, 8, 8, 9)) - (1 if row["quality"] <= 7 else 0))
    if kind == "related":
        return float(d.between(0, 3) if broken else d.pick((3, 4, 5, 5, 6, 6, 7)))
    if d.chance(0.04):  # judges are not perfectly consistent
        return float(d.between(5, 8))
    return float(d.pick((0, 0, 1, 1, 2, 2, 3, 3, 4, 5)))


def _generate(n_train, n_test, random_state, mismatch_fraction):
    """Raw records (JSON nulls kept) and metadata; the public functions format them."""
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    if (
        isinstance(mismatch_fraction, bool)
        or not isinstance(mismatch_fraction, numbers.Real)
        or not 0.0 <= float(mismatch_fraction) <= 1.0
    ):
        raise ConfigError(
            f"mismatch_fraction must be a number in [0, 1]; got {mismatch_fraction!r}"
        )
    try:
        d = Draw(check_random_state(random_state))
    except ValueError:
        raise ConfigError(
            f"random_state must be None, an int or a numpy RandomState; got {random_state!r}"
        ) from None

    metrics = _Metrics(load_metric_names())
    # Some metrics are rated more often than others, as in the real data.
    weights = d.rng.gamma(2.0, size=len(metrics.names))
    weights /= weights.sum()

    train = _rows(d, metrics, int(n_train), weights, allow_half=True)
    test = _rows(d, metrics, int(n_test), weights, allow_half=False)
    n_swap = round(float(mismatch_fraction) * len(test))
    swapped = set(d.rng.permutation(len(test))[:n_swap].tolist())
    for i, row in enumerate(test):
        source = row["metric"]
        row["source_metric"], row["kind"] = source, "matched"
        if i not in swapped:
            continue
        u = d.rng.random_sample()
        if u < _SWAP_GENERAL and metrics.general_pool[source]:
            row["metric"], judged = d.pick(metrics.general_pool[source]), "general"
        elif u < _SWAP_GENERAL + _SWAP_RELATED and metrics.related[source]:
            row["metric"], judged = d.pick(metrics.related[source]), "related"
        else:
            row["metric"], judged = d.pick(metrics.unrelated[source]), "unrelated"
        row["score"] = _judge_swap(d, row, judged)
        row["kind"] = "general" if judged == "general" else "mismatched"
    for row in (*train, *test):
        row["metric_name"] = metrics.names[row["metric"]]
    return train, test, metrics.names


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True, eq=False)
class DemoData:
    """A generated demo dataset in tidy form.

    Attributes
    ----------
    train : DataFrame
        Columns ``metric_name, system_prompt, user_prompt, response`` (str, ``""`` for
        null) and ``score`` (float64).
    test : DataFrame
        The same text columns, no score; row ``i`` has submission ID ``i + 1``.
    test_labels : DataFrame
        Columns ``ID`` (int64, 1..N), ``score`` (float64) and ``kind`` (one of
        ``"matched"``, ``"general"``, ``"mismatched"``).
    metric_names : list of str
        The packaged real metric names.
    metric_embeddings : ndarray of shape (145, 768), float32
        The packaged real metric-name embeddings.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    test_labels: pd.DataFrame
    metric_names: list[str]
    metric_embeddings: np.ndarray

    def __repr__(self) -> str:
        return (
            f"DemoData(train={len(self.train)} rows, test={len(self.test)} rows, "
            f"metrics={len(self.metric_names)})"
        )


def _tidy(rows: list[dict], *, with_score: bool) -> pd.DataFrame:
    frame = pd.DataFrame(
        {col: [row[col] or "" for row in rows] for col in TEXT_COLUMNS}, dtype=object
    )
    for col in TEXT_COLUMNS:
        frame[col] = frame[col].astype(str)
    if with_score:
        frame["score"] = np.asarray([row["score"] for row in rows], dtype=np.float64)
    return frame


def _labels(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ID": np.arange(1, len(rows) + 1, dtype=np.int64),
            "score": np.asarray([row["score"] for row in rows], dtype=np.float64),
            "kind": [row["kind"] for row in rows],
        }
    )


def make_judge_data(
    n_train: int = 1000,
    n_test: int = 500,
    *,
    random_state=0,
    mismatch_fraction: float = 0.6,
) -> DemoData:
    """Generate synthetic LLM-judge data shaped like the competition's.

    Conversations are written for a metric: a deployed assistant (farming, health,
    banking, education, welfare schemes, legal aid, wellbeing, transport) answers a user
    whose question exercises the metric's concern (a jailbreak attempt for jailbreak
    metrics, a request for someone's phone number for privacy metrics, a reply wanted
    in Tamil for language metrics...). Text is mostly English, with Hindi, Tamil,
    Bengali and Marathi in their scripts and romanised Hindi; answers are often markdown.

    Train labels follow the real skew (about 63% 9s, 28% 10s, a few 6-8, about 1% of 0-5
    and one 9.5); every low score comes with a visible defect. In the test set about
    ``mismatch_fraction`` of rows pair a conversation with another metric, scored by a
    simulated judge: low (0-5) for an unrelated metric, middling (3-7) for one of the
    same family or theme, fairly high (5-9) for metrics that apply to any conversation
    such as fluency or relevance (``kind="general"``).

    Parameters
    ----------
    n_train : int, default=1000
        Number of training rows (at least 1).
    n_test : int, default=500
        Number of test rows (at least 1).
    random_state : int, RandomState instance or None, default=0
        Seed; the same seed gives the same data.
    mismatch_fraction : float, default=0.6
        Share of test rows whose metric is swapped for another one, in [0, 1].

    Returns
    -------
    DemoData
        Tidy train and test tables, the test labels with their kind, and the packaged
        metric names and embeddings.

    Raises
    ------
    ConfigError
        If a size is not a positive integer, ``mismatch_fraction`` is outside [0, 1] or
        ``random_state`` is not a valid seed.

    Examples
    --------
    >>> from gbscore.datasets import make_judge_data
    >>> data = make_judge_data(n_train=200, n_test=100, random_state=0)
    >>> data.train.shape, data.test.shape
    ((200, 5), (100, 4))
    >>> sorted(data.test_labels["kind"].unique())
    ['general', 'matched', 'mismatched']
    """
    train, test, names = _generate(n_train, n_test, random_state, mismatch_fraction)
    return DemoData(
        train=_tidy(train, with_score=True),
        test=_tidy(test, with_score=False),
        test_labels=_labels(test),
        metric_names=list(names),
        metric_embeddings=load_metric_embeddings(),
    )


def _dump_json(records: list[dict]) -> str:
    # The real files escape "/" as "\/"; "/" only ever occurs inside JSON strings, so a
    # plain replacement keeps the document valid.
    return json.dumps(records, ensure_ascii=False, indent=2).replace("/", "\\/") + "\n"


def write_demo_data(
    directory,
    *,
    n_train: int = 1000,
    n_test: int = 500,
    random_state=0,
    mismatch_fraction: float = 0.6,
) -> Path:
    """Generate demo data and write it as competition files.

    Writes ``train_data.json`` (``score`` as a string such as ``"9.0"``, ``system_prompt``
    null in about 30% of rows, a few empty or null responses), ``test_data.json`` (no
    score), ``metric_names.json`` and ``metric_name_embeddings.npy`` (the packaged real
    files, byte for byte) and ``test_labels.csv`` (``ID,score,kind``). The same
    arguments always give the same bytes.

    Parameters
    ----------
    directory : str or path-like
        Output directory; created (with parents) if needed. Existing files of the same
        names are overwritten.
    n_train, n_test, random_state, mismatch_fraction
        As in :func:`make_judge_data`; the tables written are the ones it returns.

    Returns
    -------
    Path
        ``directory``.

    Raises
    ------
    ConfigError
        For invalid arguments (see :func:`make_judge_data`) or when ``directory`` is an
        existing file.

    Examples
    --------
    >>> from gbscore.datasets import write_demo_data
    >>> path = write_demo_data("demo-data", n_train=200, n_test=100)  # doctest: +SKIP
    >>> sorted(p.name for p in path.iterdir())  # doctest: +SKIP
    ['metric_name_embeddings.npy', 'metric_names.json', 'test_data.json', 'test_labels.csv',
     'train_data.json']
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is an existing file; expected a directory to write into")
    train, test, _ = _generate(n_train, n_test, random_state, mismatch_fraction)
    train_records = [
        {
            "metric_name": row["metric_name"],
            "score": f"{row['score']:.1f}",
            "user_prompt": row["user_prompt"],
            "response": row["response"],
            "system_prompt": row["system_prompt"],
        }
        for row in train
    ]
    test_records = [
        {
            "metric_name": row["metric_name"],
            "user_prompt": row["user_prompt"],
            "response": row["response"],
            "system_prompt": row["system_prompt"],
        }
        for row in test
    ]
    labels = "".join(
        f"{i},{row['score']:.1f},{row['kind']}\n" for i, row in enumerate(test, start=1)
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "train_data.json": _dump_json(train_records).encode("utf-8"),
        "test_data.json": _dump_json(test_records).encode("utf-8"),
        NAMES_FILE: packaged_bytes(NAMES_FILE),
        EMBEDDINGS_FILE: packaged_bytes(EMBEDDINGS_FILE),
        "test_labels.csv": ("ID,score,kind\n" + labels).encode("utf-8"),
    }
    for name, payload in files.items():
        (directory / name).write_bytes(payload)
    return directory
