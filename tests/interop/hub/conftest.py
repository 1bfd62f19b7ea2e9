"""A RabbitMQ node of our own standing for the Hub Santé: TLS only (AMQPS 5681), client
certificates required and logged in by their CN (SASL EXTERNAL, as the Hub does), the
Hub's vhost, exchanges and our three queues, all from a throw-away PKI. Skipped when
rabbitmq-server is not installed, unless RELAIS_REQUIRE_BROKER=1 (then it fails)."""

import json
import os
import re
import runpy
import shutil
import signal
import ssl
import subprocess
import time
from pathlib import Path

import pika
import pytest

from tests.interop.hub.lrm import LRM_ID, RELAIS_ID

ROOT = Path(__file__).resolve().parents[3]
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
CTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
AMQPS_PORT = int(os.environ.get("RELAIS_HUB_TEST_PORT", "5681"))
DIST_PORT = AMQPS_PORT + 20000
VHOST = "15-15_v2.0"
ADMIN = "hub-admin"  # the test itself, standing for the Hub's dispatcher


def _pki(directory: Path) -> Path:
    make = runpy.run_path(str(ROOT / "scripts" / "make_test_pki.py"))
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = make["_ca"]("Hub Santé test CA")
    make["_write"](directory, "ca", None, ca)
    make["_write"](directory, "server", *make["_leaf"](ca_key, ca, "localhost", server=True))
    make["_write"](directory, "relais", *make["_leaf"](ca_key, ca, RELAIS_ID, server=False))
    make["_write"](directory, "admin", *make["_leaf"](ca_key, ca, ADMIN, server=False))
    for key in directory.glob("*.key"):
        key.chmod(0o644)  # the broker may run as another user
    return directory


class Broker:
    def __init__(self, base: Path):
        self.base = base
        self.pki = _pki(base / "pki")
        self.node = f"hubtest-{os.getpid()}@localhost"
        (base / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    "listeners.tcp = none",
                    f"listeners.ssl.default = {AMQPS_PORT}",
                    f"ssl_options.certfile = {self.pki / 'server.pem'}",
                    f"ssl_options.keyfile = {self.pki / 'server.key'}",
                    f"ssl_options.cacertfile = {self.pki / 'ca.pem'}",
                    "ssl_options.verify = verify_peer",
                    "ssl_options.fail_if_no_peer_cert = true",
                    "auth_mechanisms.1 = EXTERNAL",
                    "ssl_cert_login_from = common_name",
                    "log.console = false",
                    "",
                ]
            )
        )
        (base / "enabled_plugins").write_text("[rabbitmq_auth_mechanism_ssl].\n")
        self.env = {
            **os.environ,
            "HOME": str(base),  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(AMQPS_PORT),
            "RABBITMQ_DIST_PORT": str(DIST_PORT),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        }
        self.process = None

    def ctl(self, *args, timeout=120):
        return subprocess.run(
            [str(CTL), "-q", "-n", self.node, *args],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        ).stdout

    def start(self):
        self.process = subprocess.Popen(
            [str(SERVER)],
            env=self.env,
            stdout=open(self.base / "server.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.ctl("wait", str(self.base / "rabbitmq.pid"), "--timeout", "120", timeout=150)

    def stop(self):
        if self.process is None:
            return
        try:
            self.ctl("stop", timeout=60)
            self.process.wait(timeout=30)
        except (subprocess.SubprocessError, OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self):
        """A broker restart: every connection dropped, durable queues and persistent
        messages kept, unacknowledged deliveries given again."""
        self.ctl("stop_app")
        self.ctl("start_app")

    def context(self, who: str) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.pem"))
        context.load_cert_chain(str(self.pki / f"{who}.pem"), str(self.pki / f"{who}.key"))
        return context

    def connect(self, who: str = "admin") -> pika.BlockingConnection:
        return pika.BlockingConnection(
            pika.ConnectionParameters(
                host="localhost",
                port=AMQPS_PORT,
                virtual_host=VHOST,
                credentials=pika.credentials.ExternalCredentials(),
                ssl_options=pika.SSLOptions(self.context(who), "localhost"),
            )
        )

    def provision(self):
        """The Hub's side of our client: vhost, users by CN, exchanges and queues."""
        self.ctl("add_vhost", VHOST)
        for user in (RELAIS_ID, ADMIN):
            self.ctl("add_user", user, os.urandom(12).hex())
            self.ctl("clear_password", user)
        # Our client may read its own queues and publish to hubsante only (as on the Hub).
        self.ctl(
            "set_permissions",
            "-p",
            VHOST,
            RELAIS_ID,
            "^$",
            "^hubsante$",
            f"^{re.escape(RELAIS_ID)}\\.",
        )
        self.ctl("set_permissions", "-p", VHOST, ADMIN, ".*", ".*", ".*")
        with self.connect() as conn:
            ch = conn.channel()
            ch.exchange_declare("hubsante", "topic", durable=True)
            ch.exchange_declare("distribution", "direct", durable=True)
            ch.queue_declare("dispatch", durable=True)  # what clients publish, for the test
            ch.queue_bind("dispatch", "hubsante", routing_key="#")
            for client in (RELAIS_ID, LRM_ID):
                for kind in ("message", "ack", "info"):
                    name = f"{client}.{kind}"
                    ch.queue_declare(name, durable=True)
                    ch.queue_bind(name, "distribution", routing_key=name)

    # --- the test standing for the Hub's dispatcher --------------------------------

    def deliver(self, envelope: dict, *, kind: str = "message", connection=None) -> None:
        """As the Hub does: the envelope into our queue, persistent, JSON."""
        own = connection is None
        conn = connection or self.connect()
        try:
            conn.channel().basic_publish(
                "distribution",
                f"{RELAIS_ID}.{kind}",
                json.dumps(envelope).encode(),
                pika.BasicProperties(content_type="application/json", delivery_mode=2),
            )
        finally:
            if own:
                conn.close()

    def published(self, *, timeout: float = 0, until=None) -> list[tuple[str, dict]]:
        """What our client published to `hubsante` so far: (routing key, envelope)."""
        out = []
        deadline = time.monotonic() + timeout
        with self.connect() as conn:
            ch = conn.channel()
            while True:
                method, _props, body = ch.basic_get("dispatch", auto_ack=True)
                if method is not None:
                    out.append((method.routing_key, json.loads(body)))
                    continue
                if until is None or until(out) or time.monotonic() > deadline:
                    return out
                time.sleep(0.2)

    def purge(self):
        with self.connect() as conn:
            ch = conn.channel()
            for name in ("dispatch", *(f"{RELAIS_ID}.{k}" for k in ("message", "ack", "info"))):
                ch.queue_purge(name)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    if not (SERVER.exists() and CTL.exists() and shutil.which("erl")):
        if os.environ.get("RELAIS_REQUIRE_BROKER") == "1":
            pytest.fail("RELAIS_REQUIRE_BROKER=1 but rabbitmq-server is not installed")
        pytest.skip("rabbitmq-server not installed (apt-get install rabbitmq-server)")
    node = Broker(tmp_path_factory.mktemp("hub-broker"))
    try:
        node.start()
        node.provision()
        yield node
    finally:
        node.stop()
