"""Millstream's HTTP API (FastAPI): build it with :func:`api.app.create_app`."""
