"""Geometry of logistics, free of any stream framework: fences, the geofence engine, routes, ETA, ping cleaning.

The logistics dataflow (:mod:`streams.logistics`), ``millstream replay gps`` and the tests share these modules,
so the same pings give the same geofence events, shipment milestones and ETAs everywhere.
"""
