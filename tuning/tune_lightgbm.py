"""Tune the LightGBM pipeline (model, negative sampler, interaction features) with Optuna.

Same options as `gbscore tune --model lightgbm`; see tuning/README.md. Example::

    python tuning/tune_lightgbm.py --data-dir DATA --n-trials 50 --export best-lightgbm.json
"""

import sys

from gbscore.tuning import main

if __name__ == "__main__":
    sys.exit(main(model="lightgbm"))
