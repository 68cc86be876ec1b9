"""Logistics domain logic in plain Python (no engine; its only I/O is reading a GPS CSV it is handed): fences
and the geofence engine, routes, ping cleaning, ETA, per-truck processing and shipment state, ERP shipment
records, the fleet clock that notices silent trucks, and the alert rules. :mod:`streams.logistics` wires it
into Bytewax; ``millstream replay gps`` (:mod:`.replay`) and the tests use the same modules, so the same pings
give the same geofence events, shipment milestones and ETAs everywhere."""
