"""Fleet pings as OsmAnd HTTP requests to a real local HTTP server."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from millstream.masterdata import read_scenario
from simulators.clock import SimClock
from simulators.fleet.osmand import KMH_PER_KNOT, OsmandSender
from simulators.fleet.simulation import FleetSimulation
from simulators.groundtruth import GroundTruth
from simulators.timeline import play
from tests.helpers.paths import ROOT

START = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, str]] = []
    refuse_truck = "TRK-04"

    def do_POST(self) -> None:
        params = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
        self.send_response(400 if params.get("id") == self.refuse_truck else 200)
        self.end_headers()
        if params.get("id") != self.refuse_truck:
            self.received.append(params)

    def log_message(self, *args: object) -> None:
        pass


def test_pings_arrive_as_osmand_requests() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/osmand"
    scenario = read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)
    sim = FleetSimulation(scenario, seed=1)
    until = START + timedelta(hours=2, minutes=30)
    pings = [e.event for e in sim.timeline() if e.event is not None and e.at <= until]
    try:
        with OsmandSender(url) as sender:
            asyncio.run(play(sim.timeline(), SimClock(START, 1e9), sender.send, GroundTruth(), asyncio.Event(),
                             until=until))
    finally:
        server.shutdown()
    refused = [p for p in pings if p.truck_id == "TRK-04"]
    assert refused and sender.failed == len(refused)
    assert sender.accepted == len(pings) - len(refused) == len(_Receiver.received)
    sent = [p for p in pings if p.truck_id != "TRK-04"]
    for ping, params in zip(sent, _Receiver.received, strict=True):
        assert params["id"] == ping.truck_id
        assert abs(float(params["lat"]) - ping.lat) < 1e-6 and abs(float(params["lon"]) - ping.lon) < 1e-6
        assert datetime.fromtimestamp(int(params["timestamp"]), UTC) == ping.timestamp
        assert abs(float(params["speed"]) * KMH_PER_KNOT - ping.speed_kmh) < 0.01
