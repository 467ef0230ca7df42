"""Shared pytest fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def judgebench_dir():
    """The read-only judgebench-dev data set in competition format; skips when absent."""
    path = SHARED_DATA / "judgebench-dev"
    if not (path / "train_data.json").is_file():
        pytest.skip(f"judgebench-dev data not found at {path}")
    return path


@pytest.fixture
def write_file(tmp_path):
    """Write ``content`` to ``tmp_path / name`` and return the path.

    ``content`` may be bytes (written as is), str (written as UTF-8) or any other
    value (serialised with ``json.dumps``).
    """

    def write(name, content):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(json.dumps(content), encoding="utf-8")
        return path

    return write


_SHARED_SCOPES = {"class", "module", "package"}


def _uses_shared_fixture(item):
    """Whether the test requests, directly or through other fixtures, a class- or
    module-scoped fixture. Autouse fixtures nobody requests (a thread limit around each
    test) do not count: they are cheap to set up again on another worker."""
    info = item._fixtureinfo
    seen, todo = set(), list(info.argnames)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        defs = info.name2fixturedefs.get(name)
        if not defs:  # a parametrize argument, or pytest's own request
            continue
        if defs[-1].scope in _SHARED_SCOPES:
            return True
        todo.extend(defs[-1].argnames)
    return False


def pytest_collection_modifyitems(config, items):
    """Under ``pytest -n N --dist loadgroup`` (the README's full-suite command), keep on one
    worker the tests of a module that share a class- or module-scoped fixture, so each such
    fixture (a fitted stack, a finished ``gbscore run``) is built once; every other test is
    scheduled on its own, which spreads a module of many slow independent cases (the
    property tests, scikit-learn's checks) over the workers instead of leaving one of them
    the whole module."""
    for item in items:
        if hasattr(item, "_fixtureinfo") and _uses_shared_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
