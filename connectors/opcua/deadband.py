"""The percent deadband, applied by the connector as well as requested from the server.

A percent deadband (OPC UA Part 8: AnalogItems with an ``EURange``) reports a change only when it exceeds
``value`` percent of the range: ``|last reported - current| > value/100 * (high - low)``. The session asks the
server for it (which saves network traffic when the server implements it), but servers may accept the filter
and ignore it — asyncua's server does, and so does the project's plant simulator built on it. So the session
also applies it to what arrives, with the EURange it reads when it subscribes. Against a server that does
filter, this passes everything the server sent (the same rule on the same values).

Like node-opcua's server, a value at or beyond the EURange limits is always reported (an excursion must not be
hidden by a deadband sized for the normal range), and so is any change of status, a non-numeric value and the
first value after (re)subscribing. A variable without an EURange gets no filter from the connector (the
server decides: it should reject the filter with ``BadDeadbandFilterInvalid``, which becomes a dead letter).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from asyncua import Client, ua

__all__ = ["PercentDeadband", "read_percent_deadbands"]

logger = logging.getLogger(__name__)


@dataclass
class PercentDeadband:
    """The percent deadband of one monitored item: ``percent`` of ``high - low``, against the last value
    reported."""

    percent: float
    low: float
    high: float
    _last_value: float | None = None
    _last_status: int | None = None

    @property
    def threshold(self) -> float:
        return self.percent / 100.0 * abs(self.high - self.low)

    def passes(self, value: object, status: int) -> bool:
        """Whether this data change is reported; remembers it as the last reported value when it is."""
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if numeric and self._last_value is not None and status == self._last_status:
            current = float(value)  # type: ignore[arg-type]
            at_limit = current <= min(self.low, self.high) or current >= max(self.low, self.high)
            if not at_limit and abs(current - self._last_value) <= self.threshold:
                return False
        self._last_value = float(value) if numeric else None  # type: ignore[arg-type]
        self._last_status = status
        return True


def _eu_range_path(node_id: str) -> ua.BrowsePath:
    element = ua.RelativePathElement()
    element.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
    element.IsInverse = False
    element.IncludeSubtypes = True
    element.TargetName = ua.QualifiedName("EURange", 0)
    path = ua.BrowsePath()
    path.StartingNode = ua.NodeId.from_string(node_id)
    path.RelativePath = ua.RelativePath(Elements=[element])
    return path


async def read_percent_deadbands(client: Client, endpoint: str, wanted: dict[int, tuple[str, float]]
                                 ) -> dict[int, PercentDeadband]:
    """For monitored items ``{client handle: (node id, percent)}``, read each variable's EURange (two
    requests in all) and return the deadbands of those that have one; the others are logged."""
    if not wanted:
        return {}
    handles = list(wanted)
    try:
        found = await client.uaclient.translate_browsepaths_to_nodeids(
            [_eu_range_path(wanted[h][0]) for h in handles])
        with_range = [(h, result.Targets[0].TargetId) for h, result in zip(handles, found, strict=True)
                      if result.StatusCode.is_good() and result.Targets]
        ranges = await client.read_values([client.get_node(t) for _, t in with_range]) if with_range else []
    except ua.UaStatusCodeError as exc:  # the server would not tell: leave the deadband to it
        logger.warning("endpoint %s: cannot read EURanges (%s); percent deadband left to the server", endpoint,
                       ua.StatusCode(exc.code).name)
        return {}
    deadbands: dict[int, PercentDeadband] = {}
    for (handle, _), eu_range in zip(with_range, ranges, strict=True):
        if isinstance(eu_range, ua.Range) and eu_range.High != eu_range.Low:
            deadbands[handle] = PercentDeadband(wanted[handle][1], eu_range.Low, eu_range.High)
    missing = sorted(wanted[h][0] for h in handles if h not in deadbands)
    if missing:
        logger.warning("endpoint %s: percent deadband left to the server for %d node(s) without an EURange: %s",
                       endpoint, len(missing), ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
    return deadbands
