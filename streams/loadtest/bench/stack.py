"""The local stack a run measures: a broker (started here unless given), the declared topics, the workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from streams.config.secret_files import load_signer, write_control_keypair
from streams.config.settings import Settings
from streams.core.signing import ControlSigner
from streams.errors import PlatestreamError
from streams.loadtest.bench.options import KAFKA_SCRIPT, BenchOptions
from streams.loadtest.bench.procs import CLI, free_port, http_get, stop_process, wait_http


class Stack:
    """Broker (started here unless given), topics, workers on embedded chDB. ``close()`` stops what it started."""

    def __init__(self, opts: BenchOptions, tmp: Path, hotlist_csv: Path):
        self.opts = opts
        self.tmp = tmp
        self.prefix = f"bench{os.getpid()}x{int(time.time()) % 100_000}."
        self.partitions = opts.partitions or 2 * opts.workers
        self.broker_pid: int | None = None
        self.started_broker = False
        self.workers: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.logs: list[Path] = []
        self.hotlist_csv = hotlist_csv
        self.bootstrap = opts.bootstrap or ""
        # The workers trust a control key made for this run; the bench signs its hot-list clears with it.
        control_key = tmp / "control" / f"{self.prefix}key"
        self.control_keys_file = write_control_keypair(control_key)
        self.signer: ControlSigner = load_signer(control_key)

    def start_broker(self) -> None:
        if self.bootstrap:
            return
        if not KAFKA_SCRIPT.exists():
            raise PlatestreamError(f"{KAFKA_SCRIPT} not found: run from a checkout, or give --bootstrap HOST:PORT")
        proc = subprocess.run(
            [str(KAFKA_SCRIPT), "start", str(self.tmp / "kafka")], capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise PlatestreamError(f"local Kafka did not start:\n{proc.stderr[-3000:]}")
        self.started_broker = True
        self.bootstrap = proc.stdout.strip().splitlines()[-1]
        self.broker_pid = int((self.tmp / "kafka" / "pid").read_text().strip())

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("PLATESTREAM_")}
        env.pop("CLICKHOUSE_URL", None)  # always the embedded store: the benchmark measures the local stack
        env.update(
            PLATESTREAM_KAFKA_BOOTSTRAP=self.bootstrap,
            PLATESTREAM_TOPIC_PREFIX=self.prefix,
            PLATESTREAM_PARTITIONS=str(self.partitions),
            PLATESTREAM_HOTLIST_PATH=str(self.hotlist_csv),
            PLATESTREAM_CONTROL_KEYS_FILE=str(self.control_keys_file),
        )
        env.update(self.opts.worker_env)
        return env

    def settings(self) -> Any:
        return Settings(kafka_bootstrap=self.bootstrap, topic_prefix=self.prefix, partitions=self.partitions)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def create_topics(self) -> None:
        proc = subprocess.run(
            [*CLI, "topics", "create"], env=self.env(), capture_output=True, text=True, cwd=self.tmp, timeout=120
        )
        if proc.returncode != 0:
            raise PlatestreamError(f"platestream topics create failed:\n{proc.stderr[-3000:]}")

    def start_workers(self) -> None:
        for i in range(self.opts.workers):
            port = free_port()
            log = self.tmp / f"worker{i}.log"
            env = dict(self.env(), PLATESTREAM_WEB_PORT=str(port), PLATESTREAM_CHDB_PATH=str(self.tmp / f"w{i}/chdb"))
            self.workers.append(
                subprocess.Popen(
                    [*CLI, "worker", "--loglevel", "warn"],
                    env=env,
                    stdout=open(log, "w"),  # noqa: SIM115 - the child holds it
                    stderr=subprocess.STDOUT,
                    cwd=self.tmp,
                )
            )
            self.ports.append(port)
            self.logs.append(log)
        for proc, port, log in zip(self.workers, self.ports, self.logs, strict=True):
            wait_http(port, "/readyz", proc, log, timeout=600)
        self.wait_group_stable()

    def wait_group_stable(self, timeout: float = 90) -> None:
        """Until every worker is a member of the group and every ``reads.batch`` partition is assigned."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        group, topic = f"{self.prefix}worker", self.topic("reads.batch")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                (desc,) = [f.result(10) for f in admin.describe_consumer_groups([group]).values()]
                partitions_of = (
                    {tp.partition for tp in m.assignment.topic_partitions if tp.topic == topic}
                    for m in desc.members
                    if m.assignment
                )
                held = [p for p in partitions_of if p]
                if (
                    desc.state == ConsumerGroupState.STABLE
                    # one member per worker holds reads.batch partitions (a worker's reads.json input, or the Faust
                    # agents of a tree from before the take inputs, is another member or the same one)
                    and len(held) == len(self.workers)
                    and set().union(*held) == set(range(self.partitions))
                ):
                    return
            except Exception:  # noqa: BLE001 - the group may not exist yet
                pass
            time.sleep(0.5)
        raise PlatestreamError(f"workers did not join consumer group {group} within {timeout} s")

    def health(self, i: int) -> dict:
        return json.loads(http_get(self.ports[i], "/readyz"))

    def metrics(self, i: int) -> str:
        return http_get(self.ports[i], "/metrics").decode()

    def close(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers:
            stop_process(p)
        if self.started_broker:
            subprocess.run([str(KAFKA_SCRIPT), "stop", str(self.tmp / "kafka")], capture_output=True, timeout=120)
