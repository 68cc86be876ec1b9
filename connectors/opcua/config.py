"""What to read from which OPC-UA server, and how to connect: the connector's configuration.

A configuration file (YAML or JSON) lists endpoints. Each endpoint has its security (policy, mode, client
certificate and key, a directory of trusted server certificates, ``allow_insecure``), its identity
(anonymous, username + password, X.509), its subscription parameters (publishing and sampling interval,
queue size, deadband) and the nodes to read, each mapped to a machine id and tag name — by explicit NodeId,
by browse path, or by discovery (every variable under the objects of a folder, optionally of one type)::

    endpoints:
    - name: plant
      url: opc.tcp://127.0.0.1:4840/millstream/plant
      security: {policy: Basic256Sha256, mode: SignAndEncrypt, trust_dir: pki/trusted}
      identity: {type: username, username: millstream, password: secret}
      subscription: {publishing_interval_ms: 500, sampling_interval_ms: 250, deadband: {type: absolute, value: 0.1}}
      nodes:
      - {node_id: "ns=2;s=CNC-01.SpindleTemperature", machine_id: CNC-01, tag: spindle_temperature, unit: degC}
      - {browse_path: "0:Objects/2:CNC-01/2:VibrationRms", machine_id: CNC-01, tag: vibration_rms}
      discover:
      - {root: "ns=2;s=Machines", type_definition: "ns=2;i=1001"}

:func:`load_config` raises :class:`OpcuaConfigError` naming the file, the field and the problem;
:func:`config_from_scenario` derives endpoints from a scenario's machine mapping.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Annotated, Any, Literal

from asyncua import ua
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from connectors.opcua.errors import OpcuaConfigError
from millstream.errors import DecodeError
from millstream.masterdata import Scenario
from millstream.serde import format_validation_error, read_document

__all__ = [
    "ConnectionConfig",
    "ConnectorConfig",
    "Deadband",
    "Discovery",
    "EndpointConfig",
    "Identity",
    "NodeMapping",
    "SecurityConfig",
    "SubscriptionConfig",
    "config_from_data",
    "config_from_scenario",
    "load_config",
    "parse_browse_path",
    "parse_node_id",
    "safe_name",
]

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
_BROWSE_ELEMENT = re.compile(r"^\d+:[^/]+$")
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9._:-]+")


def safe_name(text: str, default: str) -> str:
    """``text`` made a valid endpoint, machine or tag name (runs of other characters become ``-``; it starts
    with a letter or digit; at most 128 characters), or ``default`` when nothing is left."""
    cleaned = _NOT_IN_NAME.sub("-", text).lstrip("-._:")[:128].rstrip("-._:")
    return cleaned or default


def parse_node_id(text: str) -> ua.NodeId:
    """``ns=2;s=CNC-01.State`` -> NodeId; ``ValueError`` with the text when it is not a NodeId."""
    try:
        return ua.NodeId.from_string(text)
    except (ValueError, TypeError, AttributeError, ua.UaStringParsingError) as exc:
        msg = f"{text!r} is not a NodeId (expected e.g. 'ns=2;s=Machine.Tag' or 'i=2258'): {exc}"
        raise ValueError(msg) from None


def parse_browse_path(text: str) -> list[str]:
    """``0:Objects/2:CNC-01/2:State`` -> qualified names from the Root folder."""
    parts = [p for p in text.strip().strip("/").split("/") if p]
    if not parts or not all(_BROWSE_ELEMENT.match(p) for p in parts):
        msg = f"{text!r} is not a browse path (expected '0:Objects/2:Folder/2:Variable', namespace:name parts)"
        raise ValueError(msg)
    return parts


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class SecurityConfig(_Model):
    """Secure channel. Missing certificate paths default to the PKI directory (``MILLSTREAM_OPCUA__PKI_DIR``):
    ``own/cert.der``, ``own/private_key.pem`` and ``trusted/`` (see ``millstream opcua gen-cert``)."""

    policy: Literal["None", "Basic256Sha256"] = "Basic256Sha256"
    mode: Literal["None", "Sign", "SignAndEncrypt"] = "SignAndEncrypt"
    certificate: Path | None = None
    private_key: Path | None = None
    private_key_password: SecretStr | None = None
    trust_dir: Path | None = None
    allow_insecure: bool = False

    @model_validator(mode="after")
    def _policy_and_mode_agree(self) -> SecurityConfig:
        if (self.policy == "None") != (self.mode == "None"):
            msg = f"security policy {self.policy} and mode {self.mode} do not agree (None goes with None)"
            raise ValueError(msg)
        return self

    @property
    def insecure(self) -> bool:
        return self.mode == "None"


class Identity(_Model):
    """Who the session logs in as."""

    type: Literal["anonymous", "username", "certificate"] = "anonymous"
    username: str | None = None
    password: SecretStr | None = None
    certificate: Path | None = None
    private_key: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> Identity:
        if self.type == "username" and not (self.username and self.password is not None):
            msg = "identity type username needs username and password"
            raise ValueError(msg)
        if self.type == "certificate" and not (self.certificate and self.private_key):
            msg = "identity type certificate needs certificate and private_key"
            raise ValueError(msg)
        return self


class Deadband(_Model):
    """Report a change only when it exceeds ``value`` (absolute units, or percent of the EURange)."""

    type: Literal["none", "absolute", "percent"] = "none"
    value: float = Field(0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _percent_range(self) -> Deadband:
        if self.type == "percent" and self.value > 100:
            msg = "a percent deadband must be between 0 and 100"
            raise ValueError(msg)
        return self

    @property
    def ua_type(self) -> int:
        """OPC UA DeadbandType: 0 none, 1 absolute, 2 percent."""
        return {"none": 0, "absolute": 1, "percent": 2}[self.type]


class SubscriptionConfig(_Model):
    publishing_interval_ms: float = Field(500.0, gt=0)
    sampling_interval_ms: float = Field(250.0, ge=0)
    queue_size: int = Field(10, ge=0, le=100_000)
    deadband: Deadband = Deadband()


class NodeMapping(_Model):
    """One variable, by NodeId or browse path, read as ``tag`` of ``machine_id``."""

    node_id: str | None = None
    browse_path: str | None = None
    machine_id: Name
    tag: Name
    unit: str | None = None
    deadband: Deadband | None = None

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, value: str | None) -> str | None:
        if value is not None:
            parse_node_id(value)
        return value

    @field_validator("browse_path")
    @classmethod
    def _browse_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_browse_path(value)
        return value

    @model_validator(mode="after")
    def _one_address(self) -> NodeMapping:
        if (self.node_id is None) == (self.browse_path is None):
            msg = "give exactly one of node_id or browse_path"
            raise ValueError(msg)
        return self

    @property
    def address(self) -> str:
        return self.node_id or str(self.browse_path)


class Discovery(_Model):
    """Every variable under the objects below ``root`` (of ``type_definition`` when given).

    The machine id is ``machine_id`` or else the object's browse name; the tag is the variable's browse
    name. ``root`` itself counts as an object when it has variables.
    """

    root: str
    type_definition: str | None = None
    machine_id: Name | None = None
    max_depth: int = Field(3, ge=1, le=10)

    @field_validator("root", "type_definition")
    @classmethod
    def _node_ids(cls, value: str | None) -> str | None:
        if value is not None:
            parse_node_id(value)
        return value


class ConnectionConfig(_Model):
    """How to reach and log in to one OPC-UA server (what browsing needs)."""

    name: Name
    url: str = Field(pattern=r"^opc\.tcp://[^/:]+(:\d+)?(/.*)?$")
    security: SecurityConfig = SecurityConfig()
    identity: Identity = Identity()
    application_uri: str | None = Field(
        None, description="Client application URI; default: the URI in the client certificate."
    )
    request_timeout_s: float = Field(4.0, gt=0)
    watchdog_interval_s: float = Field(
        5.0, gt=0, description="Keep-alive: read the server state this often; no answer within it = lost.")
    session_timeout_s: float = Field(60.0, gt=0)


class EndpointConfig(ConnectionConfig):
    """One OPC-UA server and what to read from it."""

    subscription: SubscriptionConfig = SubscriptionConfig()
    nodes: list[NodeMapping] = []
    discover: list[Discovery] = []

    @model_validator(mode="after")
    def _something_to_read(self) -> EndpointConfig:
        if not self.nodes and not self.discover:
            msg = "an endpoint needs nodes or discover entries"
            raise ValueError(msg)
        keys = Counter((n.machine_id, n.tag) for n in self.nodes)
        duplicates = sorted(f"{m}/{t}" for (m, t), count in keys.items() if count > 1)
        if duplicates:
            msg = f"machine/tag mapped twice: {', '.join(duplicates)}"
            raise ValueError(msg)
        return self


class ConnectorConfig(_Model):
    endpoints: list[EndpointConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ConnectorConfig:
        names = Counter(e.name for e in self.endpoints)
        duplicates = sorted(name for name, count in names.items() if count > 1)
        if duplicates:
            msg = f"endpoint names must be unique: {', '.join(duplicates)}"
            raise ValueError(msg)
        return self

    def endpoint(self, name: str) -> EndpointConfig:
        for endpoint in self.endpoints:
            if endpoint.name == name:
                return endpoint
        msg = f"no endpoint named {name!r}"
        raise KeyError(msg)


def load_config(path: Path) -> ConnectorConfig:
    """Read and validate a connector configuration file (YAML or JSON)."""
    try:
        data: Any = read_document(path, "OPC-UA config")
    except DecodeError as exc:
        raise OpcuaConfigError(exc.reason) from None
    if not isinstance(data, dict):
        msg = f"{path}: expected a mapping with 'endpoints', got {type(data).__name__}"
        raise OpcuaConfigError(msg)
    return config_from_data(data, source=str(path))


def config_from_data(data: dict[str, Any], *, source: str = "config") -> ConnectorConfig:
    """Validate plain data (e.g. built by the CLI) into a configuration; errors name endpoint and field."""
    try:
        return ConnectorConfig.model_validate(data)
    except ValidationError as exc:
        msg = f"{source}: invalid OPC-UA config: {_name_endpoints(format_validation_error(exc), data)}"
        raise OpcuaConfigError(msg) from None


def _name_endpoints(problems: str, data: dict[str, Any]) -> str:
    """Replace ``endpoints[2].`` by ``endpoints[plant].`` so the message names the endpoint."""
    endpoints = data.get("endpoints")
    if not isinstance(endpoints, list):
        return problems

    def named(match: re.Match[str]) -> str:
        index = int(match.group(1))
        item = endpoints[index] if index < len(endpoints) else None
        name = item.get("name") if isinstance(item, dict) else None
        return f"endpoints[{name}]." if name else match.group(0)

    return re.sub(r"endpoints\[(\d+)\]\.", named, problems)


def config_from_scenario(
    scenario: Scenario, *, security: SecurityConfig | None = None, identity: Identity | None = None,
    subscription: SubscriptionConfig | None = None, url_override: str | None = None,
) -> ConnectorConfig:
    """Endpoints from a scenario's machines (``opcua.endpoint`` + ``opcua.nodes`` tag -> NodeId), one
    endpoint per distinct URL; ``url_override`` points every machine at one server (tests, demos)."""
    by_url: dict[str, list[NodeMapping]] = defaultdict(list)
    for machine in scenario.machines:
        url = url_override or machine.opcua.endpoint
        for tag, node_id in machine.opcua.nodes.items():
            by_url[url].append(NodeMapping(node_id=node_id, machine_id=machine.id, tag=tag))
    if not by_url:
        msg = f"scenario {scenario.name!r} has no machines with an OPC-UA mapping"
        raise OpcuaConfigError(msg)
    base = safe_name(scenario.name, "plant")
    endpoints = []
    for index, (url, nodes) in enumerate(sorted(by_url.items())):
        endpoints.append(EndpointConfig(
            name=f"{base}-{index + 1}" if len(by_url) > 1 else base, url=url, nodes=nodes,
            security=security or SecurityConfig(), identity=identity or Identity(),
            subscription=subscription or SubscriptionConfig(),
        ))
    return ConnectorConfig(endpoints=endpoints)
