"""Maintenance domain logic (plain Python, no engine): per-machine event-time windows of readings
(:mod:`.windows`), the failure-risk alert rule (:mod:`.rules`) and the ERP maintenance notification
(:mod:`.records`). The model side — features, training, artifacts, scoring — is :mod:`models`; the dataflow
that wires them is :mod:`streams.maintenance`.
"""
