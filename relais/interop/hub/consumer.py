"""The supervised loop of `relais hub_consumer`: consume our three queues, act on each
delivery in one database transaction (services.inbound_handle), acknowledge it to the
broker only after that commit, and publish the outbox (answers and RS-SAS-RDV) between
deliveries. The connection is rebuilt with backoff whenever the broker goes away; a
delivery not acknowledged then comes again and its distributionID makes it act once."""

import logging
import threading
import time

from django.db import DatabaseError, close_old_connections
from pika.exceptions import NackError, UnroutableError

from relais.interop.hub import services
from relais.interop.hub.client import (
    CONNECTION_ERRORS,
    HubConnection,
    HubSettings,
)

logger = logging.getLogger(__name__)
# pika logs every failed connection attempt with its traceback: our own warning says it.
logging.getLogger("pika").setLevel(logging.CRITICAL)

PUBLISH_REFUSED = (NackError, UnroutableError)
MAX_RECONNECT_SECONDS = 30


class HubConsumer:
    def __init__(self, hub: HubSettings, *, poll_seconds: float = 1.0, stop=None):
        hub.check()
        self.hub = hub
        self.poll_seconds = poll_seconds
        self.stop = stop or threading.Event()
        self.connections = 0
        self.handled = 0
        self.published = 0
        self.publish_failures = 0

    def run(self) -> None:
        delay = 1.0
        while not self.stop.is_set():
            try:
                conn = HubConnection(self.hub)
            except CONNECTION_ERRORS as exc:
                logger.warning(
                    "Hub Santé unreachable (%s): retry in %.0f s", type(exc).__name__, delay
                )
                self.stop.wait(delay)
                delay = min(delay * 2, MAX_RECONNECT_SECONDS)
                continue
            delay = 1.0
            self.connections += 1
            logger.info("Hub Santé connected (%s, vhost %s)", self.hub.host, self.hub.vhost)
            try:
                for kind in services.QUEUES:
                    conn.consume(kind, self._callback(conn, kind))
                self.flush(conn)
                while not self.stop.is_set():
                    conn.connection.process_data_events(time_limit=self.poll_seconds)
                    close_old_connections()
                    self.flush(conn)
            except CONNECTION_ERRORS as exc:
                logger.warning("Hub Santé connection lost (%s): reconnecting", type(exc).__name__)
            finally:
                conn.close()
                close_old_connections()

    def _callback(self, conn: HubConnection, kind: str):
        def on_message(channel, method, properties, body):
            try:
                services.inbound_handle(body=body, queue=kind)
            except DatabaseError:
                # The database is away: the broker keeps the message and gives it again.
                logger.exception("Hub message not stored: database error; requeued")
                channel.basic_nack(method.delivery_tag, requeue=True)
                time.sleep(1)
                return
            self.flush(conn)  # the answer goes out before the delivery is acknowledged
            channel.basic_ack(method.delivery_tag)
            self.handled += 1

        return on_message

    def flush(self, conn: HubConnection) -> int:
        """Publish what is due; a booking stops at its first failure (order kept)."""
        sent = 0
        while True:
            rows = services.outbox_due()
            if not rows:
                return sent
            stopped: set[int] = set()
            progress = False
            for row in rows:
                if row.booking_id and row.booking_id in stopped:
                    continue
                try:
                    conn.publish(row.envelope)
                except PUBLISH_REFUSED as exc:
                    services.outbox_attempt_failed(row, f"refused by the broker: {exc!r}")
                    self.publish_failures += 1
                    if row.booking_id:
                        stopped.add(row.booking_id)
                    continue
                except CONNECTION_ERRORS as exc:
                    services.outbox_attempt_failed(row, f"connection lost: {type(exc).__name__}")
                    self.publish_failures += 1
                    raise
                services.outbox_sent(row)
                self.published += 1
                sent += 1
                progress = True
            if not progress:
                return sent
