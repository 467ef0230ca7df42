"""Tune the stack with Optuna: which base models to blend and the meta-learner's strength.

Trials refit only the meta-learner on out-of-fold predictions computed once (``--oof FILE``).

Same options as `gbscore tune --model stack`; see tuning/README.md. Example::

    python tuning/tune_stack.py --data-dir DATA --n-trials 50 --export best-stack.json
"""

import sys

from gbscore.tuning import main

if __name__ == "__main__":
    sys.exit(main(model="stack"))
