"""The report folder's self-contained report.html."""

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from gbscore.model_selection import OOFPredictions
from gbscore.report import write_report


def _oof(seed=0):
    rng = np.random.default_rng(seed)
    n = 300
    y = np.r_[rng.choice([9.0, 10.0], 200), rng.uniform(0, 5, 100)]
    preds = pd.DataFrame(
        {m: np.clip(y + rng.normal(0, s, n), 0, 10) for m, s in (("lgbm", 1.0), ("stack", 0.8))}
    )
    return OOFPredictions(
        y=y,
        fold=np.tile([0, 1, 2], n // 3),
        is_shifted=np.r_[np.zeros(200, bool), np.ones(100, bool)],
        relation=np.r_[np.full(200, "real"), np.full(100, "unrelated")].astype(object),
        preds=preds,
        row=np.arange(n),
        timings={},
        grouping="phrasing",
    )


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.cells = [], [], []
        self._in_cell = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("link", "script") or attrs.get("href"):
            self.links.append(tag)
        self._in_cell = tag in ("td", "th")

    def handle_data(self, data):
        if self._in_cell and data.strip():
            self.cells.append(data.strip())


@pytest.mark.slow
def test_report_html_is_self_contained_and_holds_the_summary(tmp_path):
    rng = np.random.default_rng(1)
    labels = pd.DataFrame(
        {
            "score": rng.uniform(0, 10, 40),
            "kind": np.where(np.arange(40) % 2, "matched", "mismatched"),
        }
    )
    weights = {"meta": "LinearRegression", "weights": {"lgbm": 0.9}, "intercept": 0.4}
    write_report(
        tmp_path,
        config={"model": "stack"},
        timings={"features": 1.5, "total": 2.25},
        oof=_oof(),
        oof_conversation=_oof(seed=2),
        stack_weights=weights,
        test_pred=rng.uniform(0, 10, 40),
        test_base_preds=pd.DataFrame({"lgbm": rng.uniform(0, 10, 40)}),
        test_labels=labels,
    )
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    parsed = _Collector()
    parsed.feed(page)
    assert not parsed.links  # nothing fetched from elsewhere
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(pngs) >= 3
    assert len(parsed.images) == len(pngs)
    assert all(src.startswith("data:image/png;base64,") for src in parsed.images)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    # Every CV RMSE of both groupings and the test RMSE appear, as the summary rounds them.
    for key in ("cv_models", "cv_models_conversation"):
        for row in metrics[key].values():
            assert f"{row['rmse_shift']:.3f}" in parsed.cells
    assert f"{metrics['test']['rmse']:.3f}" in parsed.cells
    assert f"{metrics['test']['rmse_matched']:.3f}" in parsed.cells
    assert "2.250" in parsed.cells and "0.900" in parsed.cells
    assert re.search(r"folds grouped by phrasing", page)
    assert re.search(r"folds grouped by conversation", page)
    assert (tmp_path / "summary.md").is_file()  # kept beside it


@pytest.mark.slow
def test_report_shows_the_cv_per_kind_of_held_out_row(tmp_path):
    metrics = write_report(tmp_path, config={"model": "stack"}, timings={}, oof=_oof())
    kinds = {r["relation"]: r for r in metrics["cv"]["per_relation"]}
    assert set(kinds) == {"real", "unrelated"}
    assert (kinds["real"]["n"], kinds["unrelated"]["n"]) == (200, 100)
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "Per kind of held-out row (stack)" in summary
    assert re.search(r"^\| unrelated \| 100 \| ", summary, flags=re.M)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page[page.index("Per kind of held-out row (stack)") :]
    parsed = _Collector()
    parsed.feed(section[: section.index("</table>")])
    assert {"real", "unrelated", "200", "100"} <= set(parsed.cells)
