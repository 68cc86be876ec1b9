"""``millstream opcua``: browse a server's address space, make a client certificate, trust a server.

Connection options are shared with ``millstream bridge opcua`` (:func:`connection_options`,
:func:`prompt_password`): security is Basic256Sha256 SignAndEncrypt by default; ``--allow-insecure`` (or the
setting ``MILLSTREAM_OPCUA__ALLOW_INSECURE=true``) is the explicit opt-in to security mode None, which then
becomes the default mode.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import typer

from cli.common import EXIT_INPUT, EXIT_UNAVAILABLE, console, fail, settings
from connectors.opcua.browse import browse_tree
from connectors.opcua.client import connect_client, describe_error, disconnect_quietly
from connectors.opcua.config import ConnectionConfig, parse_node_id, safe_name
from connectors.opcua.errors import OpcuaConnectionError, OpcuaError, OpcuaSecurityError
from connectors.opcua.security import (
    OWN_CERTIFICATE,
    OWN_PRIVATE_KEY,
    TRUSTED_DIR,
    check_credentials,
    default_application_uri,
    fetch_server_certificate,
    fingerprint,
    generate_client_certificate,
    trust_certificate,
)

__all__ = ["app", "connection_options", "endpoint_name", "prompt_password"]

app = typer.Typer(help="OPC-UA: browse servers, client certificates, trusted servers.", no_args_is_help=True)

SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")


def endpoint_name(url: str) -> str:
    """A readable endpoint name from its URL (``opc.tcp://127.0.0.1:4840/x`` -> ``127.0.0.1-4840``)."""
    host_port = url.removeprefix("opc.tcp://").split("/", 1)[0]
    return safe_name(host_port.replace(":", "-"), "endpoint")


def connection_options(
    url: str, *, security_mode: str | None, allow_insecure: bool, username: str | None, password: str | None,
) -> dict[str, object]:
    """Endpoint fields (name, url, security, identity) from command-line options. Insecure is allowed by
    ``--allow-insecure`` or by the setting ``MILLSTREAM_OPCUA__ALLOW_INSECURE`` (then mode None is the default)."""
    allow_insecure = allow_insecure or settings().opcua.allow_insecure
    mode = security_mode or ("None" if allow_insecure else "SignAndEncrypt")
    if mode not in SECURITY_MODES:
        fail(f"--security-mode must be one of {', '.join(SECURITY_MODES)}, not {mode!r}")
    security: dict[str, object] = {"policy": "None" if mode == "None" else "Basic256Sha256", "mode": mode,
                                   "allow_insecure": allow_insecure}
    identity: dict[str, object] = {"type": "anonymous"}
    if username:
        identity = {"type": "username", "username": username, "password": password or ""}
    return {"name": endpoint_name(url), "url": url, "security": security, "identity": identity}


SecurityModeOption = typer.Option(
    None, "--security-mode", help="None, Sign or SignAndEncrypt (default SignAndEncrypt; None with --allow-insecure)."
)
AllowInsecureOption = typer.Option(
    False, "--allow-insecure", help="Allow security mode None (unauthenticated, unencrypted)."
)
UsernameOption = typer.Option(None, "--username", help="Log in with this user name.")
PasswordOption = typer.Option(None, "--password", help="Password for --username (prompted when omitted).")


def prompt_password(username: str | None, password: str | None) -> str | None:
    """The password for ``--username``: as given, or prompted (hidden) when omitted."""
    if username and password is None:
        return typer.prompt("password", hide_input=True)
    return password


@app.command("browse")
def browse_command(
    url: str = typer.Argument(..., help="Endpoint URL, e.g. opc.tcp://127.0.0.1:4840/millstream/plant"),
    depth: int = typer.Option(2, "--depth", min=1, max=10, help="How many levels below the root."),
    root: str = typer.Option("i=85", "--root", help="NodeId to start from (default: the Objects folder)."),
    security_mode: str | None = SecurityModeOption,
    allow_insecure: bool = AllowInsecureOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
) -> None:
    """Print the address space as a tree: node id, browse name, node class, data type."""
    try:
        root_id = parse_node_id(root)
        connection = ConnectionConfig.model_validate(connection_options(
            url, security_mode=security_mode, allow_insecure=allow_insecure, username=username,
            password=prompt_password(username, password)))
    except ValueError as exc:
        fail(str(exc))
    pki_dir = settings().opcua.pki_dir

    async def browse() -> list:
        client = await connect_client(connection, pki_dir)
        try:
            return await browse_tree(client, root_id, depth)
        finally:
            await disconnect_quietly(client)

    try:
        check_credentials(connection, pki_dir)
        nodes = asyncio.run(browse())
    except OpcuaSecurityError as exc:
        fail(str(exc), EXIT_INPUT)
    except OpcuaConnectionError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except Exception as exc:  # a browse error from the server (status code), named with the endpoint
        fail(f"endpoint {url}: browse failed: {describe_error(exc)}", EXIT_UNAVAILABLE)
    typer.echo(f"{root_id.to_string()}  ({url})")
    for node in nodes:
        data_type = f"  {node.data_type}" if node.data_type else ""
        typer.echo(f"{'  ' * node.depth}{node.node_id}  {node.browse_name}  {node.node_class}{data_type}")


@app.command("gen-cert")
def gen_cert_command(
    pki_dir: Path | None = typer.Option(None, "--pki-dir", help="PKI directory (default MILLSTREAM_OPCUA__PKI_DIR)."),
    application_uri: str | None = typer.Option(None, "--application-uri", help="Default urn:<host>:millstream:client"),
    hostname: str | None = typer.Option(None, "--hostname", help="DNS name in the certificate (default: this host)."),
    days: int = typer.Option(365, "--days", min=1, max=3650),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing certificate and key."),
) -> None:
    """Make the client application certificate (with the application URI OPC UA requires) and key."""
    root = pki_dir or settings().opcua.pki_dir
    host = hostname or socket.gethostname()
    try:
        result = generate_client_certificate(root / OWN_CERTIFICATE, root / OWN_PRIVATE_KEY,
                                             application_uri=application_uri or default_application_uri(host),
                                             hostname=host, days=days, overwrite=overwrite)
    except OpcuaError as exc:
        fail(str(exc))
    (root / TRUSTED_DIR).mkdir(parents=True, exist_ok=True)
    console.print(f"certificate  {result.certificate}\nprivate key  {result.private_key}\n"
                  f"application  {result.application_uri}\nvalid until  {result.not_after:%Y-%m-%d}\n"
                  f"trust dir    {root / TRUSTED_DIR}  (put trusted server certificates here)", highlight=False)


@app.command("trust")
def trust_command(
    url: str = typer.Argument(..., help="Endpoint URL whose server certificate to trust."),
    pki_dir: Path | None = typer.Option(None, "--pki-dir", help="PKI directory (default MILLSTREAM_OPCUA__PKI_DIR)."),
    expect: str | None = typer.Option(None, "--fingerprint", help="Only trust when the SHA-256 fingerprint matches."),
) -> None:
    """Fetch a server's certificate, show its fingerprint and store it in the trust directory."""
    root = pki_dir or settings().opcua.pki_dir
    try:
        cert = asyncio.run(fetch_server_certificate(url))
    except OpcuaError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except Exception as exc:
        fail(f"endpoint {url}: cannot fetch the server certificate: {describe_error(exc)}", EXIT_UNAVAILABLE)
    found = fingerprint(cert)
    if expect and expect.replace(":", "").upper() != found.replace(":", ""):
        fail(f"endpoint {url}: certificate fingerprint {found} does not match --fingerprint {expect}")
    path = trust_certificate(cert, root / TRUSTED_DIR)
    console.print(f"trusted {cert.subject.rfc4514_string()}\nSHA-256 {found}\nstored  {path}", highlight=False)
