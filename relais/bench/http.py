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
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
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
    sizes: list = field(default_factory=list)  # body sizes (GET loads)
    rounds_done: int = 0  # rounds played (racing loads)

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


def _run_clients(worker, clients: int, result: "LoadResult") -> "LoadResult":
    """Run `clients` threads of `worker` to the end; the wall time goes in `result`."""
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - began
    return result


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

    return _run_clients(worker, clients, result)


def concurrent_gets(host, port, token, paths: list[str], clients: int) -> LoadResult:
    """`clients` threads GET the paths, each taken once, in order, until none is left.
    `result.sizes` holds the body sizes of the answers."""
    result = LoadResult(clients=clients)
    lock = threading.Lock()
    position = iter(range(len(paths)))

    def worker():
        client = Client(host, port, token)
        try:
            while True:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                try:
                    status, seconds, body = client.call("GET", paths[index])
                except OSError:
                    with lock:
                        result.errors += 1
                    continue
                with lock:
                    result.add(status, seconds)
                    result.sizes.append(len(body))
        finally:
            client.close()

    return _run_clients(worker, clients, result)


def racing_posts(
    host,
    port,
    token,
    path: str,
    rounds: list[tuple[dict, dict]],
    clients: int,
    duration: float,
    key_prefix: str = "bench",
) -> LoadResult:
    """`clients` threads in pairs; each pair takes one round at a time — two bodies — and
    both threads wait at a `threading.Barrier` before posting theirs, so the two attempts
    leave together. A round whose two bodies name the same slot is a true race: at most
    one may win. Rounds are taken in order until none is left or `duration` has passed;
    `result.rounds_done` tells how many were played (the first ones)."""
    if clients < 2 or clients % 2:
        raise ValueError("clients must be an even number ≥ 2")
    result = LoadResult(clients=clients)
    lock = threading.Lock()
    position = iter(range(len(rounds)))
    stop_at = time.perf_counter() + duration
    played = []

    def pair():
        barrier = threading.Barrier(2, timeout=120)
        box: list = [None]

        def worker(side: int):
            client = Client(host, port, token)
            try:
                while True:
                    barrier.wait()  # both free: the leader picks the next round
                    if side == 0:
                        index = None
                        if time.perf_counter() < stop_at:
                            with lock:
                                index = next(position, None)
                                if index is not None:
                                    played.append(index)
                        box[0] = index
                    barrier.wait()  # both leave together
                    index = box[0]
                    if index is None:
                        return
                    body = rounds[index][side]
                    key = {"Idempotency-Key": f"{key_prefix}-{index}-{side}"}
                    try:
                        status, seconds, _ = client.call("POST", path, body, key)
                    except OSError:
                        with lock:
                            result.errors += 1
                        continue
                    with lock:
                        result.add(status, seconds)
            except threading.BrokenBarrierError:
                with lock:
                    result.errors += 1
            finally:
                client.close()

        return [threading.Thread(target=worker, args=(s,), daemon=True) for s in (0, 1)]

    threads = [t for _ in range(clients // 2) for t in pair()]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall = time.perf_counter() - began
    result.rounds_done = len(played)
    return result
