"""Webhook subscriptions and deliveries as typed models (inputs ``*Create``/``*Update``, stored rows).

An endpoint's ``event_types`` filter lists ERP record types (``shipment.delay``), whole domains
(``shipment.*``) or ``*``; an empty list means every record. ``secrets`` hold one or more ``whsec_...``
secrets, newest first: during a rotation every secret signs each message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.erp.signing import SignatureError, secret_key
from millstream.errors import MillstreamError
from millstream.events.base import unstorable_text
from millstream.events.erp import ERP_RECORD_TYPES

__all__ = [
    "ContentMode",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "ErpError",
    "WebhookEndpoint",
    "WebhookEndpointCreate",
    "WebhookEndpointUpdate",
    "event_type_matches",
]

ContentMode = Literal["structured", "binary"]
DeliveryStatus = Literal["pending", "delivered", "dead"]

_DOMAINS = {t.split(".", 1)[0] for t in ERP_RECORD_TYPES}


class ErpError(MillstreamError):
    """Base of the ERP connector's errors."""


def _check_event_types(values: list[str]) -> list[str]:
    for value in values:
        if value == "*" or value in ERP_RECORD_TYPES:
            continue
        if value.endswith(".*") and value[:-2] in _DOMAINS:
            continue
        msg = (f"unknown event type {value!r}: use a record type ({', '.join(ERP_RECORD_TYPES[:2])} ...), "
               f"a domain pattern ({', '.join(sorted(d + '.*' for d in _DOMAINS))}) or '*'")
        raise ValueError(msg)
    return list(dict.fromkeys(values))


def _check_secrets(values: list[SecretStr] | None) -> list[SecretStr] | None:
    if values is None:
        return None
    if not values:
        msg = "at least one secret is needed"
        raise ValueError(msg)
    for i, value in enumerate(values):
        try:
            secret_key(value.get_secret_value())
        except SignatureError as exc:
            msg = f"secrets[{i}]: {exc}"
            raise ValueError(msg) from None
    return values


def event_type_matches(patterns: list[str] | tuple[str, ...], record_type: str) -> bool:
    """Whether an endpoint with filter ``patterns`` receives ``record_type`` (empty filter: everything)."""
    if not patterns:
        return True
    domain = record_type.split(".", 1)[0]
    return any(p == "*" or p == record_type or p == domain + ".*" for p in patterns)


HttpUrl = Annotated[AnyHttpUrl, Field(description="http(s) URL the ERP receives webhooks on")]
EventTypePattern = Annotated[str, Field(min_length=1, max_length=100)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=512)]


def _refuse_unstorable(model: BaseModel) -> None:
    """Text PostgreSQL cannot hold (NUL, lone surrogates) is refused naming the field, never quoting it."""
    if problem := unstorable_text(model):
        raise ValueError(problem)


class WebhookEndpointCreate(BaseModel):
    """A new subscription. Without ``secrets`` one is generated (returned once by the creator)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: HttpUrl
    description: str = Field("", max_length=500)
    event_types: list[EventTypePattern] = Field(default_factory=list, max_length=50)
    secrets: list[Secret] | None = Field(None, max_length=5)
    enabled: bool = True
    content_mode: ContentMode = "structured"

    _types = field_validator("event_types")(_check_event_types)
    _secrets = field_validator("secrets")(_check_secrets)

    @model_validator(mode="after")
    def _storable(self) -> WebhookEndpointCreate:
        _refuse_unstorable(self)
        return self


class WebhookEndpointUpdate(BaseModel):
    """A partial change; fields left out stay as they are. Re-enabling clears ``disabled_reason``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: HttpUrl | None = None
    description: str | None = Field(None, max_length=500)
    event_types: list[EventTypePattern] | None = Field(None, max_length=50)
    secrets: list[Secret] | None = Field(None, max_length=5)
    enabled: bool | None = None
    content_mode: ContentMode | None = None

    @model_validator(mode="after")
    def _storable(self) -> WebhookEndpointUpdate:
        _refuse_unstorable(self)
        return self

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_event_types(value)

    _secrets = field_validator("secrets")(_check_secrets)


class WebhookEndpoint(BaseModel):
    """A stored subscription. ``secrets`` are :class:`SecretStr` so they never end up in logs."""

    model_config = ConfigDict(frozen=True)

    id: str
    url: str
    description: str
    event_types: list[str]
    secrets: list[SecretStr]
    enabled: bool
    content_mode: ContentMode
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    def signing_keys(self) -> list[bytes]:
        """HMAC keys of the secrets, newest first."""
        return [secret_key(s.get_secret_value()) for s in self.secrets]


class Delivery(BaseModel):
    """One record on its way to one endpoint."""

    model_config = ConfigDict(frozen=True)

    id: int
    endpoint_id: str
    event_id: str
    record_key: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None


class DeliveryAttempt(BaseModel):
    """One HTTP attempt of a delivery (status code or error, latency, response excerpt)."""

    model_config = ConfigDict(frozen=True)

    delivery_id: int
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str
