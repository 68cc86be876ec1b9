"""Dataflow operators shared by every pipeline.

Errors are data: a step that can reject an item returns :class:`Checked` — ``oks`` and ``errs`` streams, the
shape of Bytewax's Kafka ``oks/errs`` — and rejected items travel on as :class:`DeadLetter` to the ``dlq``
topic. No flow dies on input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from millstream.errors import DecodeError
from millstream.events import DeadLetter

__all__ = ["Checked", "check", "split_dead_letters"]

X = TypeVar("X")
Y = TypeVar("Y")


@dataclass(frozen=True)
class Checked(Generic[X]):
    """Items that passed a step, and dead letters for those that did not."""

    oks: Stream[X]
    errs: Stream[DeadLetter]


@operator
def split_dead_letters(step_id: str, up: Stream[X | DeadLetter]) -> Checked[X]:
    """Split a stream of results into passed items and dead letters."""
    branch = op.branch("branch", up, lambda item: not isinstance(item, DeadLetter))
    return Checked(cast(Stream[X], branch.trues), cast(Stream[DeadLetter], branch.falses))


@operator
def check(step_id: str, up: Stream[X], fn: Callable[[X], Y], *, raw: Callable[[X], bytes | str]) -> Checked[Y]:
    """Apply ``fn``; an item for which it raises :class:`DecodeError` or ``ValueError`` becomes a dead letter
    (stage ``step_id``, payload ``raw(item)``) instead of stopping the flow."""

    def attempt(item: X) -> Y | DeadLetter:
        try:
            return fn(item)
        except DecodeError as exc:
            return DeadLetter.of(raw(item), stage=step_id, reason=exc.reason, error_type=exc.error_type)
        except ValueError as exc:
            return DeadLetter.of(raw(item), stage=step_id, reason=str(exc), error_type=type(exc).__name__)

    return split_dead_letters("split", op.map("attempt", up, attempt))
