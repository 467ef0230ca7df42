"""``python -m gbscore.cli``: the ``gbscore`` command."""

from . import main

main()
