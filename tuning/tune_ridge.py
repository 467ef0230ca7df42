"""Tune the Ridge pipeline (model, negative sampler, interaction features) with Optuna.

Same options as `gbscore tune --model ridge`; see tuning/README.md. Example::

    python tuning/tune_ridge.py --data-dir DATA --n-trials 50 --export best-ridge.json
"""

import sys

from gbscore.tuning import main

if __name__ == "__main__":
    sys.exit(main(model="ridge"))
