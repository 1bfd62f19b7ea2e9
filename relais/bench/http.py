"""Load clients over loopback HTTP, standard library only (Django-free).

One persistent `http.client` connection per thread; each call records its status and
its latency as the client sees it.
"""

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


class Client:
    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def call(self, method: str, path: str, body=None, headers=None) -> tuple[int, float, bytes]:
        payload = json.dumps(body).encode() if body is not None else None
        began = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, payload, {**self.headers, **(headers or {})})
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                break
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise
        return response.status, time.perf_counter() - began, data

    def close(self):
        self.conn.close()


@dataclass
class LoadResult:
    clients: int
    wall: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies: dict = field(default_factory=dict)  # status -> [seconds]
    errors: int = 0

    def add(self, status: int, seconds: float):
        self.statuses[status] += 1
        self.latencies.setdefault(status, []).append(seconds)

    def all_latencies(self) -> list[float]:
        return [s for values in self.latencies.values() for s in values]


def wait_ready(host: str, port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def sequential(host, port, token, paths: list[str]) -> list[tuple[int, float]]:
    """GET each path in turn on one connection: latency without queueing."""
    client = Client(host, port, token)
    try:
        return [client.call("GET", path)[:2] for path in paths]
    finally:
        client.close()


def concurrent_posts(
    host,
    port,
    token,
    path: str,
    bodies: list[dict],
    clients: int,
    duration: float,
    key_prefix: str = "bench",
) -> LoadResult:
    """`clients` threads POST the bodies, in order, until none is left or `duration`
    seconds have passed. Adjacent bodies may target the same slot: they race."""
    result = LoadResult(clients=clients)
    lock = threading.Lock()
    position = iter(range(len(bodies)))
    stop_at = time.perf_counter() + duration

    def worker():
        client = Client(host, port, token)
        try:
            while time.perf_counter() < stop_at:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                try:
                    status, seconds, _ = client.call(
                        "POST", path, bodies[index], {"Idempotency-Key": f"{key_prefix}-{index}"}
                    )
                except OSError:
                    with lock:
                        result.errors += 1
                    continue
                with lock:
                    result.add(status, seconds)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - began
    return result
