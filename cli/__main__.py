"""``python -m cli``: the ``millstream`` command without the console script (``millstream up`` runs its
services this way).

The long-running commands a run starts are dispatched to their own module, so each service process imports
only what its command needs (a simulator does not load the dataflow, model or web libraries: about a third
of the memory); anything else goes through the full command line of :mod:`cli.main`.
"""

from __future__ import annotations

import importlib
import sys

import typer

#: command -> (module, attribute): a Typer group (``app``) or a single command function
SERVICE_COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("cli.simulate", "app"),
    "bridge": ("cli.bridge", "app"),
    "api": ("cli.api", "app"),
    "ingest": ("cli.ingest", "ingest"),
    "dispatch": ("cli.dispatch", "dispatch_command"),
    "maintenance": ("cli.maintenance", "maintenance"),
    "logistics": ("cli.logistics", "logistics"),
    "inventory": ("cli.inventory", "inventory"),
}


def main(argv: list[str]) -> None:
    if argv and argv[0] in SERVICE_COMMANDS:
        from cli.common import configure_logging, settings

        module, attribute = SERVICE_COMMANDS[argv[0]]
        target = getattr(importlib.import_module(module), attribute)
        configure_logging(settings().log_level.upper())
        root = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
        if isinstance(target, typer.Typer):
            root.add_typer(target, name=argv[0])
        else:
            root.command(argv[0])(target)
            root.callback()(lambda: None)  # a group, so the command keeps its name
        root(argv, prog_name="millstream")
        return
    from cli.main import run

    run()


main(sys.argv[1:])
