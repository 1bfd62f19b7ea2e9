"""The AMQP 0-9-1 side of the Hub Santé connector (pika, blocking adapter).

The Hub's client guide (ansforge/SAMU-Hub-Sante): TLS on 5671 with the client's
IGC-Santé certificate, logged in by the certificate (SASL EXTERNAL, user = its CN), one
vhost per model version (e.g. 15-15_v2.0); a client publishes to the topic exchange
`hubsante` with its own id as routing key (the Hub checks it against senderID), persistent
and JSON; the Hub delivers to the client's queues `{id}.message` (cases, reports),
`{id}.ack` (RC-REF) and `{id}.info` (RS-ERROR). Django-free: settings are passed in."""

import json
import ssl
from dataclasses import dataclass

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import (
    AMQPChannelError,
    AMQPConnectionError,
    ChannelClosed,
    ConnectionClosed,
    NackError,
    StreamLostError,
    UnroutableError,
)

# Errors after which the connection is rebuilt (the broker restarted, the network cut).
CONNECTION_ERRORS = (AMQPConnectionError, ConnectionClosed, StreamLostError, ChannelClosed, OSError)
# Errors of one publish on a live connection (the broker refused it).
PUBLISH_ERRORS = (NackError, UnroutableError, AMQPChannelError)


@dataclass
class HubSettings:
    client_id: str
    host: str
    port: int = 5671
    vhost: str = "15-15_v2.0"
    exchange: str = "hubsante"
    cert: str = ""
    key: str = ""
    ca: str = ""
    heartbeat: int = 30
    prefetch: int = 50

    @classmethod
    def from_django(cls) -> "HubSettings":
        from django.conf import settings as s

        return cls(
            client_id=s.RELAIS_HUB_CLIENT_ID,
            host=s.RELAIS_HUB_HOST,
            port=s.RELAIS_HUB_PORT,
            vhost=s.RELAIS_HUB_VHOST,
            exchange=s.RELAIS_HUB_EXCHANGE,
            cert=s.RELAIS_HUB_CLIENT_CERT,
            key=s.RELAIS_HUB_CLIENT_KEY,
            ca=s.RELAIS_HUB_CA,
        )

    def check(self) -> None:
        missing = [
            name
            for name, value in (
                ("RELAIS_HUB_CLIENT_ID", self.client_id),
                ("RELAIS_HUB_HOST", self.host),
                ("RELAIS_HUB_CLIENT_CERT", self.cert),
                ("RELAIS_HUB_CLIENT_KEY", self.key),
            )
            if not value
        ]
        if missing:
            raise ValueError("Hub Santé connector not configured: " + ", ".join(missing))

    def queue(self, kind: str) -> str:
        return f"{self.client_id}.{kind}"


def tls_context(hub: HubSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=hub.ca or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(hub.cert, hub.key or None)
    return context


def connection_parameters(hub: HubSettings) -> pika.ConnectionParameters:
    return pika.ConnectionParameters(
        host=hub.host,
        port=hub.port,
        virtual_host=hub.vhost,
        credentials=pika.credentials.ExternalCredentials(),
        ssl_options=pika.SSLOptions(tls_context(hub), server_hostname=hub.host),
        heartbeat=hub.heartbeat,
        blocked_connection_timeout=60,
        connection_attempts=1,
        socket_timeout=10,
    )


class HubConnection:
    """One connection and channel, publisher confirms on (a publish returns once the
    broker has the message, or raises)."""

    def __init__(self, hub: HubSettings):
        self.hub = hub
        self.connection = pika.BlockingConnection(connection_parameters(hub))
        self.channel: BlockingChannel = self.connection.channel()
        self.channel.confirm_delivery()
        self.channel.basic_qos(prefetch_count=hub.prefetch)

    def publish(self, envelope: dict) -> None:
        self.channel.basic_publish(
            exchange=self.hub.exchange,
            routing_key=self.hub.client_id,
            body=json.dumps(envelope, ensure_ascii=False).encode("utf-8"),
            properties=pika.BasicProperties(
                content_type="application/json",
                content_encoding="UTF-8",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=envelope.get("distributionID"),
            ),
            mandatory=True,
        )

    def consume(self, kind: str, callback) -> None:
        self.channel.basic_consume(self.hub.queue(kind), callback, auto_ack=False)

    def close(self) -> None:
        try:
            if self.connection.is_open:
                self.connection.close()
        except CONNECTION_ERRORS:
            pass
