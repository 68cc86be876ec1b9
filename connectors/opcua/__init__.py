"""OPC-UA connector: endpoint configuration, secured sessions that survive server restarts, a live-only
Bytewax source emitting :class:`millstream.events.SensorReading`, address-space browsing, certificates."""
