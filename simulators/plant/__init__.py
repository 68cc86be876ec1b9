"""The simulated plant: machines that wear, fail and produce, served over OPC UA (see :mod:`.server`)."""
