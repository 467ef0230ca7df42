"""Built-in demo data: the packaged real metric files and a synthetic judge-data generator.

``gbscore run`` without ``--data-dir`` uses :func:`write_demo_data`, so the whole pipeline
runs offline on a fresh install.
"""

import logging
import tempfile
from pathlib import Path

from ._generator import DemoData, make_judge_data, write_demo_data
from ._packaged import load_metric_embeddings, load_metric_names

__all__ = [
    "DEMO_SIZE",
    "DemoData",
    "load_metric_embeddings",
    "load_metric_names",
    "load_or_make_demo",
    "make_judge_data",
    "write_demo_data",
]


log = logging.getLogger("gbscore")

#: Train and test rows of the demo the commands train on without ``--data-dir``. Small
#: enough that a first ``gbscore run`` on 2 CPU cores, encoder cold, takes under a minute
#: with the full default stack (45 s measured; 1000/500 rows took 115 s, 450k tokens whose
#: encoding alone needs 38 s at this CPU's peak matmul rate). See the README.
DEMO_SIZE = (300, 150)


def load_or_make_demo(data_dir=None, *, demo_dir=None, demo_size=DEMO_SIZE, random_state=0):
    """The competition files in ``data_dir``, or demo data written and read back the same way.

    Every command that trains (``run``, ``train``, ``cv``, ``tune``) falls back to the demo
    through this one function, so they all see the same demo table for the same size and seed.

    Parameters
    ----------
    data_dir : str or Path, optional
        A competition directory. Without it, :func:`write_demo_data` writes the demo into
        ``demo_dir`` (a temporary directory when that is None too) and it is loaded from there.
    demo_dir : str or Path, optional
    demo_size : (int, int), default=DEMO_SIZE
        Train and test rows of the demo (300 and 150).
    random_state : int, default=0
        Seed of the demo.

    Returns
    -------
    CompetitionData

    Raises
    ------
    GbscoreError
        When ``data_dir`` has no ``train_data.json``.
    """
    from ..data import load_competition
    from ..exceptions import GbscoreError

    if data_dir is None:
        n_train, n_test = demo_size
        if demo_dir is None:
            with tempfile.TemporaryDirectory(prefix="gbscore-demo-") as tmp:
                return load_or_make_demo(
                    data_dir=write_demo_data(
                        tmp, n_train=n_train, n_test=n_test, random_state=random_state
                    ),
                    demo_size=demo_size,
                )
        log.info(
            "no --data-dir: generating demo data (%d train, %d test rows) in %s",
            n_train,
            n_test,
            demo_dir,
        )
        data_dir = write_demo_data(
            Path(demo_dir), n_train=n_train, n_test=n_test, random_state=random_state
        )
    data = load_competition(data_dir)
    if data.train is None:
        raise GbscoreError(f"{data_dir}: no train_data.json found; training needs it")
    return data
