"""Simulators of the world Millstream watches, driven by a scenario and a seed, with ground truth.

* :mod:`simulators.plant` — an OPC-UA server whose machines wear, fail, get repaired and produce parts;
  plus an offline run-to-failure generator with the same physics.
* :mod:`simulators.fleet` — trucks driving the scenario's shipments, pinging GPS with injected incidents.
* :mod:`simulators.gates` — RFID readers at dock doors and line-side gates reading GS1 EPC tags.
* :mod:`simulators.erp_receiver` — the ERP side of the webhooks, for the demo and tests.
* :mod:`simulators.clock` — simulated time (``--speed``); :mod:`simulators.groundtruth` — what really happened.
"""
