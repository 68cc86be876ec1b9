"""Logistics domain logic for the logistics flow, in plain Python: per-truck processing, shipment state,
ERP shipment records and the fleet clock that notices silent trucks. :mod:`streams.logistics` wires it
into Bytewax; the geometry it uses lives in :mod:`geo`."""
