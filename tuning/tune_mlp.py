"""Tune the MLP pipeline (model, negative sampler, interaction features) with Optuna.

Same options as `gbscore tune --model mlp`; see tuning/README.md. Example::

    python tuning/tune_mlp.py --data-dir DATA --n-trials 50 --export best-mlp.json
"""

import sys

from gbscore.tuning import main

if __name__ == "__main__":
    sys.exit(main(model="mlp"))
