"""The simulated fleet: trucks driving the scenario's shipments and pinging GPS, with injected incidents."""
