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


@pytest.fixture
def run_cli(capsys):
    """Run the ``gbscore`` entry point on ``argv`` (any values, made strings); returns
    ``(exit code, stdout, stderr)``."""
    from gbscore.cli import main

    def run(argv):
        code = 0
        try:
            main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
