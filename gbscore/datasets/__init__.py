"""Built-in demo data: the packaged real metric files and a synthetic judge-data generator.

``gbscore run`` without ``--data-dir`` uses :func:`write_demo_data`, so the whole pipeline
runs offline on a fresh install.
"""

from ._generator import (
    DemoData,
    load_metric_embeddings,
    load_metric_names,
    make_judge_data,
    write_demo_data,
)

__all__ = [
    "DemoData",
    "load_metric_embeddings",
    "load_metric_names",
    "make_judge_data",
    "write_demo_data",
]
