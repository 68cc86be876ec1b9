"""Webhook subscriptions (endpoints) CRUD, their deliveries and attempts, and replay; for erp and admin.

An endpoint's secrets are shown once, in the answer to its creation (or to a change that sets new ones);
reads show only how many there are. Every change and every replay is in the audit log. Loopback and private
endpoint URLs are refused (422 on ``url``) unless ``MILLSTREAM_WEBHOOKS__ALLOW_PRIVATE_TARGETS`` is true.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.deps import AppSettings, Connection, WebhookManager
from api.errors import field_error
from api.time_buckets import BUCKETS, BucketCount, BucketName
from connectors.erp.delivery_stats import attempt_counts
from connectors.erp.models import (
    ContentMode,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    ErpError,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)
from connectors.erp.subscriptions import (
    create_endpoint,
    delete_endpoint,
    get_delivery,
    get_endpoint,
    list_attempts,
    list_deliveries,
    list_endpoints,
    replay,
    update_endpoint,
)
from connectors.erp.targets import TargetError
from connectors.postgres.audit import record_change

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

EndpointId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
TextFilter = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such endpoint."}}


class WebhookEndpointPublic(BaseModel):
    """A subscription as stored, without its secrets."""

    id: str
    url: str
    description: str
    event_types: list[str]
    secret_count: int
    enabled: bool
    content_mode: ContentMode
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointPublic:
        data = endpoint.model_dump(exclude={"secrets"})
        return cls(**data, secret_count=len(endpoint.secrets))


class WebhookEndpointCreated(WebhookEndpointPublic):
    """A subscription with its signing secrets (``whsec_...``, newest first): store them now, they are not
    shown again."""

    secrets: list[str]

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointCreated:
        data = endpoint.model_dump(exclude={"secrets"})
        secrets = [s.get_secret_value() for s in endpoint.secrets]
        return cls(**data, secret_count=len(secrets), secrets=secrets)


class DeliveryAttemptPublic(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    response_excerpt: str

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> DeliveryAttemptPublic:
        return cls.model_validate(attempt.model_dump(exclude={"delivery_id"}))


class DeliveryPublic(Delivery):
    """One ERP record on its way to one endpoint."""


class DeliveryDetailPublic(DeliveryPublic):
    attempt_log: list[DeliveryAttemptPublic]


class ReplayCreate(BaseModel):
    """What to deliver again: one event (every delivery of it, or to one endpoint), or the dead-lettered
    deliveries created in ``[since, until)``."""

    model_config = ConfigDict(extra="forbid")

    event_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    endpoint_id: str | None = Field(None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")

    @model_validator(mode="after")
    def _something(self) -> ReplayCreate:
        if self.event_id is None and self.since is None and self.until is None:
            msg = "give event_id, or a time range (since and/or until)"
            raise ValueError(msg)
        if self.since is not None and self.until is not None and self.until <= self.since:
            msg = "until must be after since"
            raise ValueError(msg)
        return self


class ReplayPublic(BaseModel):
    queued: int = Field(description="Deliveries put back in the queue.")


def _audit(conn: Connection, caller: Any, action: str, resource_id: str | None, details: dict[str, Any]) -> None:
    record_change(conn, actor=caller.actor, role=caller.role, action=action, resource="webhook_endpoints",
                  resource_id=resource_id, details=details)


def _safe_details(change: WebhookEndpointCreate | WebhookEndpointUpdate) -> dict[str, Any]:
    details = change.model_dump(mode="json", exclude={"secrets"}, exclude_unset=True)
    if change.secrets is not None:
        details["secrets_set"] = len(change.secrets)
    return details


@router.get("/endpoints", response_model=list[WebhookEndpointPublic], summary="List webhook endpoints")
def read_endpoints(conn: Connection, _: WebhookManager, enabled: bool | None = None, limit: Limit = 100,
                   offset: Offset = 0) -> list[WebhookEndpointPublic]:
    return [WebhookEndpointPublic.of(e) for e in list_endpoints(conn, enabled=enabled, limit=limit, offset=offset)]


@router.post("/endpoints", response_model=WebhookEndpointCreated, status_code=status.HTTP_201_CREATED,
             summary="Subscribe an endpoint (its secrets are shown once, here)")
def create(conn: Connection, caller: WebhookManager, settings: AppSettings,
           spec: Annotated[WebhookEndpointCreate, Body()]) -> WebhookEndpointCreated:
    with conn.transaction():
        try:
            endpoint = create_endpoint(conn, spec, allow_private_targets=settings.webhooks.allow_private_targets)
        except TargetError as exc:
            raise field_error(("body", "url"), str(exc)) from None
        _audit(conn, caller, "create", endpoint.id, _safe_details(spec))
    return WebhookEndpointCreated.of(endpoint)


@router.get("/endpoints/{endpoint_id}", response_model=WebhookEndpointPublic, summary="Read an endpoint",
            responses=_NOT_FOUND)
def read_endpoint(conn: Connection, _: WebhookManager, endpoint_id: EndpointId) -> WebhookEndpointPublic:
    endpoint = get_endpoint(conn, endpoint_id)
    if endpoint is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such endpoint")
    return WebhookEndpointPublic.of(endpoint)


@router.patch("/endpoints/{endpoint_id}", response_model=WebhookEndpointCreated | WebhookEndpointPublic,
              summary="Change an endpoint (fields left out stay); new secrets are shown once",
              responses=_NOT_FOUND)
def update(conn: Connection, caller: WebhookManager, settings: AppSettings, endpoint_id: EndpointId,
           change: Annotated[WebhookEndpointUpdate, Body()]) -> WebhookEndpointCreated | WebhookEndpointPublic:
    with conn.transaction():
        try:
            endpoint = update_endpoint(conn, endpoint_id, change,
                                       allow_private_targets=settings.webhooks.allow_private_targets)
        except TargetError as exc:
            raise field_error(("body", "url"), str(exc)) from None
        if endpoint is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such endpoint")
        _audit(conn, caller, "update", endpoint_id, _safe_details(change))
    return WebhookEndpointCreated.of(endpoint) if change.secrets else WebhookEndpointPublic.of(endpoint)


@router.delete("/endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Unsubscribe an endpoint (its deliveries go with it)", responses=_NOT_FOUND)
def delete(conn: Connection, caller: WebhookManager, endpoint_id: EndpointId) -> Response:
    with conn.transaction():
        if not delete_endpoint(conn, endpoint_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such endpoint")
        _audit(conn, caller, "delete", endpoint_id, {})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/deliveries", response_model=list[DeliveryPublic], summary="List deliveries, newest first")
def read_deliveries(conn: Connection, _: WebhookManager, endpoint_id: TextFilter = None,
                    status: DeliveryStatus | None = None, event_id: TextFilter = None, limit: Limit = 100,
                    offset: Offset = 0) -> list[DeliveryPublic]:
    deliveries = list_deliveries(conn, endpoint_id=endpoint_id, status=status, event_id=event_id, limit=limit,
                                 offset=offset)
    return [DeliveryPublic.model_validate(d.model_dump()) for d in deliveries]


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetailPublic,
            summary="A delivery with every attempt (status, latency, response excerpt)",
            responses={404: {"description": "No such delivery."}})
def read_delivery(conn: Connection, _: WebhookManager,
                  delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> DeliveryDetailPublic:
    delivery = get_delivery(conn, delivery_id)
    if delivery is None:
        raise HTTPException(404, "no such delivery")
    attempts = [DeliveryAttemptPublic.of(a) for a in list_attempts(conn, delivery_id)]
    return DeliveryDetailPublic.model_validate({**delivery.model_dump(), "attempt_log": attempts})


class AttemptBucketPublic(BaseModel):
    start: datetime
    succeeded: int = Field(description="Attempts answered 2xx.")
    failed: int = Field(description="Attempts answered otherwise, or not answered (timeout, refused).")


class AttemptCountsPublic(BaseModel):
    """Delivery attempts per time bucket, oldest first, up to the latest attempt."""

    bucket_seconds: int
    buckets: list[AttemptBucketPublic]


@router.get("/attempts/counts", response_model=AttemptCountsPublic,
            summary="Delivery attempts over time: succeeded and failed per bucket")
def read_attempt_counts(conn: Connection, _: WebhookManager, bucket: BucketName = "hour", buckets: BucketCount = 24,
                        endpoint_id: TextFilter = None) -> AttemptCountsPublic:
    width = BUCKETS[bucket]
    counts = attempt_counts(conn, bucket=width, buckets=buckets, endpoint_id=endpoint_id)
    return AttemptCountsPublic(bucket_seconds=int(width.total_seconds()),
                               buckets=[AttemptBucketPublic(start=c.start, succeeded=c.succeeded, failed=c.failed)
                                        for c in counts])


@router.post("/replay", response_model=ReplayPublic, summary="Deliver an event, or dead-lettered deliveries, again")
def replay_deliveries(conn: Connection, caller: WebhookManager,
                      request: Annotated[ReplayCreate, Body()]) -> ReplayPublic:
    with conn.transaction():
        try:
            queued = replay(conn, event_id=request.event_id, since=request.since, until=request.until,
                            endpoint_id=request.endpoint_id)
        except ErpError as exc:
            raise field_error(("body",), str(exc)) from None
        _audit(conn, caller, "replay", request.endpoint_id, {**request.model_dump(mode="json"), "queued": queued})
    return ReplayPublic(queued=queued)
