"""``python -m cli``: the ``millstream`` command without the console script (used by ``millstream up``)."""

from cli.main import run

run()
