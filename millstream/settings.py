"""Application settings: pydantic-settings, env prefix ``MILLSTREAM_``, nested with ``__``.

Obtain them through :func:`get_settings` (cached); pass the component you need into sources, sinks and
services by constructor. Nothing else in the project reads the environment.

Example: ``MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from millstream.errors import SettingsError

__all__ = [
    "ApiSettings",
    "ClockSettings",
    "DatabaseSettings",
    "EventSettings",
    "InventorySettings",
    "KafkaSettings",
    "LogisticsSettings",
    "MaintenanceSettings",
    "OpcuaSettings",
    "Settings",
    "WebhookSettings",
    "get_settings",
    "load_settings",
]

ENV_PREFIX = "MILLSTREAM_"
ENV_DELIMITER = "__"


class _Component(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSettings(_Component):
    """Where the broker is and how to talk to it."""

    bootstrap_servers: str = Field("127.0.0.1:19092", min_length=1)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9._-]*$")
    consumer_group: str = Field("millstream", min_length=1)
    replication_factor: int = Field(1, ge=1)
    client_id: str = "millstream"

    def connection_config(self) -> dict[str, Any]:
        """The librdkafka properties shared by producers, consumers and admin clients."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": self.client_id,
        }
        if self.sasl_mechanism:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username or ""
            config["sasl.password"] = self.sasl_password.get_secret_value() if self.sasl_password else ""
        return config


class DatabaseSettings(_Component):
    """PostgreSQL / TimescaleDB connection and storage policy."""

    url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:15432/millstream")
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1)
    timescale: Literal["auto", "require", "off"] = "auto"
    retention_days: int = Field(30, ge=1)
    #: Sinks retry a lost connection / restarting database with backoff from ``retry_initial_s`` doubling to
    #: ``retry_max_s``, for as long as it takes (nothing is dropped meanwhile).
    retry_initial_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)


class EventSettings(_Component):
    """Edge validation policy for incoming events."""

    max_future_skew_s: float = Field(300.0, ge=0)
    max_age_days: float = Field(30.0, gt=0)
    #: A raw message larger than this is dead-lettered (reason, size, SHA-256, first 1 KiB); the bound keeps
    #: every dead letter under the ``dlq`` topic's 1 MiB message size.
    max_message_bytes: int = Field(256 * 1024, ge=1024, le=384 * 1024)

    @property
    def max_future_skew(self) -> timedelta:
        return timedelta(seconds=self.max_future_skew_s)

    @property
    def max_age(self) -> timedelta:
        return timedelta(days=self.max_age_days)


class OpcuaSettings(_Component):
    """OPC-UA connector defaults; per-endpoint details live in the connector's config file."""

    config_file: Path | None = None
    pki_dir: Path = Path("pki")
    allow_insecure: bool = False
    reconnect_initial_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)


class ApiSettings(_Component):
    """HTTP API."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: Larger request bodies are refused with 413 before any handler runs.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    #: JSON file in which ``millstream up`` reports its services; ``/readyz`` includes them when set.
    run_status_file: Path | None = None
    #: Seconds between keep-alive comments on an idle event stream (``/api/v1/alerts/stream``).
    sse_keepalive_s: float = Field(15.0, gt=0, le=300)


class ClockSettings(_Component):
    """The clock of a run of the simulated world (``millstream up`` sets it for every process it starts).

    Unset (the default), a process's clock is the wall clock. Set, "now" is ``start`` at the wall-clock
    instant ``wall_start`` (Unix seconds) and advances ``speed`` times faster; ``origin`` is where the
    scenario's ``simulation.start`` lies on the run's timeline (see docs/running.md).
    """

    origin: datetime | None = None
    start: datetime | None = None
    wall_start: float | None = None
    speed: float = Field(1.0, gt=0, allow_inf_nan=False)


class WebhookSettings(_Component):
    """ERP webhook delivery."""

    timeout_s: float = Field(15.0, gt=0)
    max_parallel: int = Field(16, ge=1)
    #: Loopback, private and link-local endpoint URLs are refused unless this is true (SSRF guard).
    allow_private_targets: bool = False


class MaintenanceSettings(_Component):
    """Predictive maintenance: where trained models live, and how scores become alerts."""

    model_registry: Path = Path(".cache/models")
    dataset: Literal["plant", "cmapss"] = "plant"
    #: Alert when the probability of failure within the model's horizon stays above this for min_duration.
    alert_above: float = Field(0.6, gt=0, lt=1)
    clear_below: float = Field(0.3, gt=0, lt=1)
    critical_above: float = Field(0.85, gt=0, lt=1)
    min_duration_s: float = Field(180.0, ge=0)
    #: Late readings are accepted until the event-time watermark (newest reading - this) passes their bucket.
    allowed_lateness_s: float = Field(120.0, ge=0)
    #: Scores are written at most this often per machine (event time).
    score_every_s: float = Field(60.0, gt=0)
    max_batch: int = Field(512, ge=1)


class InventorySettings(_Component):
    """The inventory pipeline: RFID gate pass detection and part counters."""

    dedup_window_s: float = Field(10.0, gt=0, description="Reads of a tag closer than this are one pass.")
    late_wait_s: float = Field(30.0, ge=0, description="Allowed lateness of RFID reads in event-time seconds: "
                               "gate passes are decided when the gate stream's watermark (the slowest active "
                               "partition's newest read - this) has passed them; reads behind it are late.")
    min_rssi_dbm: float = Field(-78.0, le=0, description="A tag seen no stronger than this is a stray from "
                                "further away, not a pass.")
    counter_modulus: int = Field(2**32, ge=2, description="Part counters wrap round at this value (UInt32).")
    order_wait_s: float = Field(300.0, gt=0, description="A material's movements are applied in event-time "
                                "order once every source that can bring one has read past them; a flow that "
                                "follows its topics lets one wait at most this long (event time) behind the "
                                "newest source.")


class LogisticsSettings(_Component):
    """The logistics flow: ping cleaning, geofences, ETA and alert thresholds, and the Dispatch map."""

    max_speed_kmh: float = Field(200.0, gt=0, description="Implied speeds above this mark a ping as outlier.")
    allowed_lateness_s: float = Field(30.0, ge=0, description="Per-truck reorder window in event time.")
    hysteresis_m: float = Field(50.0, ge=0, description="Band outside a fence a truck must leave to exit.")
    corridor_m: float = Field(300.0, gt=0, description="Half-width of a shipment's route corridor.")
    debounce_s: float = Field(30.0, ge=0, description="A fence change must hold this long.")
    dwell_min: float = Field(10.0, gt=0, description="Inside this long = a dwell event (delivered at the destination).")
    in_transit_after_m: float = Field(1000.0, ge=0, description="Metres along the route to count as in transit.")
    segment_m: float = Field(500.0, gt=0, description="Route segment length of the ETA's speed history.")
    eta_every_s: float = Field(30.0, ge=0, description="Re-estimate a shipment's ETA this often (event time).")
    eta_publish_s: float = Field(300.0, ge=0, description="Publish an ETA update when it moved more than this.")
    delay_tolerance_min: float = Field(15.0, ge=0, description="Delay alert when the ETA is this far past the window.")
    delay_hysteresis_min: float = Field(10.0, ge=0, description="A delay alert clears this far below the tolerance.")
    offline_after_min: float = Field(10.0, gt=0, description="No ping this long while in transit = offline.")
    deviation_after_s: float = Field(120.0, ge=0, description="Outside the corridor this long = route deviation.")
    long_dwell_min: float = Field(90.0, gt=0, description="At a site this long = long-dwell alert.")
    tile_url: str = Field("", description="Map tile URL template ({z}/{x}/{y}) for the Dispatch page; empty: none.")
    tile_attribution: str = Field("", description="The tile provider's attribution shown on the map.")


class Settings(BaseSettings):
    """All of Millstream's settings, one nested model per component."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_DELIMITER, extra="forbid", frozen=True,
        case_sensitive=False,
    )

    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    events: EventSettings = EventSettings()
    opcua: OpcuaSettings = OpcuaSettings()
    api: ApiSettings = ApiSettings()
    webhooks: WebhookSettings = WebhookSettings()
    inventory: InventorySettings = InventorySettings()
    clock: ClockSettings = ClockSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    logistics: LogisticsSettings = LogisticsSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    #: Local state that must survive restarts (dataflow recovery snapshots under ``recovery/``).
    data_dir: Path = Path(".millstream")


def env_var_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable that sets the field at ``loc`` (e.g. ``MILLSTREAM_KAFKA__REPLICATION_FACTOR``)."""
    return ENV_PREFIX + ENV_DELIMITER.join(str(part).upper() for part in loc)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and overrides); a wrong value raises :class:`SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{env_var_name(err['loc'])}: {err['msg']}" for err in exc.errors())
        msg = f"invalid settings: {problems}"
        raise SettingsError(msg) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once. Call ``get_settings.cache_clear()`` after changing the env."""
    return load_settings()
