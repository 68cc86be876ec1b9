"""The live status line of a long-running command, and the counts a dataflow reports through it.

On a terminal the line is redrawn in place (rich); when the output goes to a file or a pipe, a plain line
is printed every ``interval_s`` seconds instead. The last state is printed once more as the summary when
the command ends, however it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.live import Live
from rich.text import Text

from cli.common import console
from millstream.metrics import DEAD_LETTERS, EVENTS_IN, EVENTS_OUT, counter_total

__all__ = ["flow_counts", "live_status"]


def flow_counts() -> str:
    """``in N | out M | dead-lettered D`` of this process's dataflow (from its metrics)."""
    return (f"in {counter_total(EVENTS_IN):.0f} | out {counter_total(EVENTS_OUT):.0f} | "
            f"dead-lettered {counter_total(DEAD_LETTERS):.0f}")


@contextmanager
def live_status(render: Callable[[], str], *, interval_s: float = 10.0, summary: str = "summary") -> Iterator[None]:
    """Show ``render()`` while the block runs; print ``summary: render()`` when it ends."""
    stop = threading.Event()

    def safe() -> str:
        try:
            return render()
        except Exception as exc:  # a status line must never stop the command
            return f"(status unavailable: {exc})"

    if console.is_terminal:
        live = Live(Text(safe()), console=console, refresh_per_second=2, transient=True)

        def redraw() -> None:
            while not stop.wait(0.5):
                live.update(Text(safe()))

        live.start()
        thread = threading.Thread(target=redraw, name="status-line", daemon=True)
    else:
        live = None

        def periodic() -> None:
            while not stop.wait(interval_s):
                console.print(safe(), highlight=False, soft_wrap=True)

        thread = threading.Thread(target=periodic, name="status-line", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)
        if live is not None:
            live.stop()
        console.print(f"{summary}: {safe()}", highlight=False, soft_wrap=True)
