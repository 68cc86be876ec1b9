"""Real OPC-UA servers for the connector tests: an in-process asyncua server on its own thread and the
node-opcua sample server (a different vendor's stack, in Node.js), both on 127.0.0.1 with free ports."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import CertificateUserManager, UserManager

from simulators.plant.server import stop_server
from tests.helpers.net import free_port
from tests.helpers.paths import ROOT

NODE_OPCUA_DIR = ROOT / "deploy" / "node-opcua"
SIMPLE_SERVER = NODE_OPCUA_DIR / "node_modules" / "node-opcua-samples" / "bin" / "simple_server.js"

T = TypeVar("T")

NS = "urn:millstream:test-plant"
# The test plant: machine M1 with these variables (NodeId ns=2;s=M1.<name>) and initial values.
VARIABLES: dict[str, Any] = {
    "Temperature": 20.0, "Speed": 1000.0, "Count": ua.Variant(0, ua.VariantType.Int32), "Label": "idle",
    "Matrix": [1.0, 2.0, 3.0],
}


async def cancel_pending() -> None:
    """Cancel what a stopped server left running, so closing its loop does not leave tasks behind."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _Users(UserManager):
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return None
        if self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


class AsyncuaPlant:
    """An asyncua server with a small machine, run on a background thread; restartable on the same port.

    ``security`` is ``"none"`` (only insecure), ``"secure"`` (only Basic256Sha256 Sign and SignAndEncrypt,
    needs ``certificate``/``private_key``) or ``"both"``. ``users`` turns on username login (anonymous off).
    """

    def __init__(self, *, port: int | None = None, security: str = "none", certificate: Path | None = None,
                 private_key: Path | None = None, application_uri: str | None = None,
                 users: dict[str, str] | None = None, x509_users: list[Path] | None = None, machines: int = 1,
                 extra_variables: int = 0) -> None:
        self.port = port or free_port()
        self.security = security
        self.certificate = certificate
        self.private_key = private_key
        self.application_uri = application_uri
        self.users = users
        self.x509_users = x509_users
        self.machines = machines
        self.extra_variables = extra_variables
        self.url = f"opc.tcp://127.0.0.1:{self.port}/millstream/test"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="asyncua-plant", daemon=True)
        self._thread.start()
        self._server: Server | None = None
        self.nodes: dict[str, ua.NodeId] = {}

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    @staticmethod
    def node_id(machine: str, name: str) -> str:
        return f"ns=2;s={machine}.{name}"

    async def _start(self) -> None:
        user_manager: UserManager | None = _Users(self.users) if self.users else None
        if self.x509_users:
            user_manager = CertificateUserManager()
            for i, path in enumerate(self.x509_users):
                await user_manager.add_user(path, name=f"x509-{i}")
        server = Server(user_manager=user_manager)
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("Millstream test plant")
        policies = {
            "none": [ua.SecurityPolicyType.NoSecurity],
            "secure": [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.Basic256Sha256_Sign],
            "both": [ua.SecurityPolicyType.NoSecurity, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                     ua.SecurityPolicyType.Basic256Sha256_Sign],
        }[self.security]
        server.set_security_policy(policies)
        if self.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        elif self.x509_users:
            server.set_identity_tokens([ua.X509IdentityToken])
        if self.certificate and self.private_key:
            if self.application_uri:
                await server.set_application_uri(self.application_uri)
            await server.load_certificate(str(self.certificate))
            await server.load_private_key(str(self.private_key))
        idx = await server.register_namespace(NS)
        assert idx == 2
        machines_folder = await server.nodes.objects.add_folder(ua.NodeId("Machines", idx), f"{idx}:Machines")
        machine_type = await server.nodes.base_object_type.add_object_type(ua.NodeId("MachineType", idx),
                                                                            f"{idx}:MachineType")
        panel = await machines_folder.add_object(ua.NodeId("Panel", idx), f"{idx}:Panel")  # not a machine
        await panel.add_variable(ua.NodeId("Panel.Lamp", idx), f"{idx}:Lamp", True)
        for m in range(1, self.machines + 1):
            machine = f"M{m}"
            obj = await machines_folder.add_object(ua.NodeId(machine, idx), f"{idx}:{machine}",
                                                   objecttype=machine_type.nodeid)
            variables = dict(VARIABLES)
            variables.update({f"X{i}": 0.0 for i in range(self.extra_variables)})
            for name, value in variables.items():
                node = await obj.add_variable(ua.NodeId(f"{machine}.{name}", idx), f"{idx}:{name}", value)
                await node.set_writable()
                self.nodes[f"{machine}.{name}"] = node.nodeid
        await server.start()
        self._server = server

    def start(self) -> AsyncuaPlant:
        self.call(self._start())
        return self

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            self.call(stop_server(server, strict=True))

    async def _write(self, node_id: str, value: Any, status: int, source_timestamp: datetime | None,
                     variant_type: ua.VariantType | None) -> None:
        assert self._server is not None
        variant = ua.Variant(value, variant_type) if variant_type else ua.Variant(value)
        now = datetime.now(UTC)
        data_value = ua.DataValue(variant, ua.StatusCode(status), SourceTimestamp=source_timestamp or now,
                                  ServerTimestamp=now)
        await self._server.write_attribute_value(ua.NodeId.from_string(node_id), data_value)

    def write(self, node_id: str, value: Any, *, status: int = 0, source_timestamp: datetime | None = None,
              variant_type: ua.VariantType | None = None) -> None:
        self.call(self._write(node_id, value, status, source_timestamp, variant_type))

    def write_many(self, writes: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.call(writes())

    @property
    def server(self) -> Server:
        assert self._server is not None
        return self._server

    def close(self) -> None:
        self.stop()
        self.call(cancel_pending())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def ensure_node_opcua() -> Path:
    """Install the pinned node-opcua sample server (``npm ci``) when missing; returns the server script."""
    if not SIMPLE_SERVER.is_file():
        subprocess.run([str(ROOT / "scripts" / "node-opcua.sh"), "install"], check=True, timeout=600)
    return SIMPLE_SERVER


class NodeOpcuaServer:
    """``node simple_server.js -p PORT``: node-opcua's sample server (ns=1;s=Temperature, PumpSpeed,
    FanSpeed; users user1/password1), with its PKI under ``home`` (XDG_CONFIG_HOME)."""

    def __init__(self, home: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.home = home
        self.url = f"opc.tcp://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = home / f"node-opcua-{self.port}.log"

    @property
    def certificate(self) -> Path:
        return self.home / "NodeOPCUA-Server-nodejs" / "pki" / "server_certificate1.pem"

    def start(self, timeout_s: float = 60.0) -> NodeOpcuaServer:
        node = shutil.which("node")
        assert node, "Node.js is required for the node-opcua peer (scripts/bootstrap-system.sh installs it)"
        script = ensure_node_opcua()
        env = {**os.environ, "XDG_CONFIG_HOME": str(self.home)}
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen([node, str(script), "-p", str(self.port), "--silent"], env=env,
                                            stdout=log, stderr=subprocess.STDOUT, cwd=NODE_OPCUA_DIR)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"node-opcua server exited with {self.process.returncode}: {self.log.read_text()[-2000:]}"
                raise RuntimeError(msg)
            if b"server now waiting for connections" in self.log.read_bytes():
                return self
            time.sleep(0.1)
        self.stop()
        msg = f"node-opcua server did not start within {timeout_s} s: {self.log.read_text()[-2000:]}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None
