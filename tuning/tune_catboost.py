"""Tune the CatBoost pipeline (model, negative sampler, interaction features) with Optuna.

Same options as `gbscore tune --model catboost`; see tuning/README.md. Example::

    python tuning/tune_catboost.py --data-dir DATA --n-trials 50 --export best-catboost.json
"""

import sys

from gbscore.tuning import main

if __name__ == "__main__":
    sys.exit(main(model="catboost"))
