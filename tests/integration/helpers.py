"""Helpers for integration tests: a worker subprocess, its /readyz and /metrics, reading a topic to its end, and
signed control events (a real control key pair, envelopes as the API seals them)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streams.core.signing import ControlSigner
from streams.loadtest.synth import Synth, SynthConfig
from streams.model.access import Principal
from streams.model.read import READ_SCHEMA
from tests.support.control import control_keys

CLI = [sys.executable, "-m", "streams.cli.app"]


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    # Output to a file, never an unread pipe: a full pipe blocks the worker's (and librdkafka's) logging threads,
    # which wedges its producer (seen while the broker was down and every client logged connection errors).
    log = tempfile.NamedTemporaryFile(prefix="platestream-worker-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen([*CLI, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log_path = log.name  # type: ignore[attr-defined]
    log.close()
    health(env, proc, wait=90)
    return proc


def worker_output(proc: subprocess.Popen, chars: int = 4000) -> str:
    with open(proc.log_path, errors="replace") as f:  # type: ignore[attr-defined]
        return f.read()[-chars:]


def stop_worker(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def health(env: dict[str, str], proc: subprocess.Popen | None = None, wait: float = 0) -> dict:
    port = env["PLATESTREAM_WEB_PORT"]
    deadline = time.monotonic() + wait
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{worker_output(proc)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:  # 503: not ready (starting, or its store failing), and says why
            doc = json.loads(exc.read() or b"{}")
            if doc.get("status") != "starting":
                return doc
            if time.monotonic() > deadline:
                raise AssertionError("worker /readyz says it is still starting") from None
            time.sleep(0.3)
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("worker /readyz did not answer") from None
            time.sleep(0.3)


def wait_for(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def metric(env: dict[str, str], name: str, labels: str = "") -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{env['PLATESTREAM_WEB_PORT']}/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or line.split("{")[0].split(" ")[0] != name:
            continue
        if labels and labels not in line:
            continue
        total += float(line.rsplit(" ", 1)[1])
    return total


class TopicReader:
    """Reads a topic from the beginning; ``read(want)`` returns all JSON values seen so far once ``want`` arrived."""

    def __init__(self, bootstrap: str, topic: str):
        self.c = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"}
        )
        self.c.subscribe([topic])
        self.seen: list[dict] = []

    def read(self, want: int, timeout: float = 60, settle: float = 1.5) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.seen) < want and time.monotonic() < deadline:
            self._poll(0.3)
        end = time.monotonic() + settle  # a little longer, to catch anything beyond what was expected
        while time.monotonic() < end:
            self._poll(0.1)
        return list(self.seen)

    def _poll(self, t: float) -> None:
        m = self.c.poll(t)
        if m is not None and not m.error():
            self.seen.append(json.loads(m.value()))

    def close(self) -> None:
        self.c.close()


# Characters in no confusable group of the default policy: two different plates of these never fold together.
PLAIN = "39CEFJKPRTWXY"
REASONS = ("arrest_warrant", "felony_vehicle")  # warrant reasons: no max_days, so a far expiry is admitted


def hot_plate(i: int) -> str:
    digits = []
    for _ in range(6):
        i, d = divmod(i, len(PLAIN))
        digits.append(PLAIN[d])
    return "XK" + "".join(reversed(digits))  # 8 characters: synthetic plates (and candidates) have 7


def hot_entries(n: int) -> list[dict]:
    return [
        {
            "entry_id": f"E{i:03d}",
            "plate": hot_plate(i),
            "region": "CA" if i % 3 else "NV",
            "reason": REASONS[i % 2],
            "warrant": f"W-2026-{i:04d}",
        }
        for i in range(n)
    ]


def hotlist_csv(path: Path, entries: list[dict]) -> Path:
    lines = ["entry_id,plate,state,type,reason,record_number,warrant_number,entry_date,expires_at"]
    lines += [
        f"{e['entry_id']},{e['plate']},{e['region']},PC,{e['reason']},,{e['warrant']},2026-01-01,2099-01-01"
        for e in entries
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def messages_to_end(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes]]:
    """Every message of ``topic`` up to its current end, as (partition, key, value)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-read-to-end", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False) for p in parts}
        pending = {p for p, (lo, hi) in ends.items() if hi > lo}
        c.assign([TopicPartition(topic, p, ends[p][0]) for p in pending])
        out = []
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            for m in c.consume(500, timeout=0.5):
                if m.error() is None and m.offset() < ends[m.partition()][1]:
                    out.append((m.partition(), m.key(), m.value()))
                    if m.offset() >= ends[m.partition()][1] - 1:
                        pending.discard(m.partition())
        assert not pending, f"{topic}: could not read partitions {pending} to their end"
        return out
    finally:
        c.close()


def read_to_end(bootstrap: str, topic: str) -> list[bytes]:
    """Every message value of ``topic`` up to its current end."""
    return [value for _, _, value in messages_to_end(bootstrap, topic)]


# what a group's offsets answer while a restarted broker hands the group's coordinator back
COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
}


def lag(bootstrap: str, group: str, topic: str, retry_s: float = 30) -> int:
    """Messages of ``topic`` not yet committed by ``group`` (the worker acknowledges after all outputs are written).

    A retriable broker error (a coordinator moving after a broker restart) is retried for ``retry_s``."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
        deadline = time.monotonic() + retry_s
        while True:
            try:
                offsets = c.committed(parts, timeout=10)
                break
            except KafkaException as e:
                err = e.args[0]
                if not (err.retriable() or err.code() in COORDINATOR_MOVING) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        committed = {tp.partition: tp.offset for tp in offsets}
        total = 0
        for tp in parts:
            hi = c.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            total += hi - max(committed[tp.partition], 0)
        return total
    finally:
        c.close()


def reads_metric(env: dict[str, str]) -> float:
    """The worker's reads counter; 0 while a busy or starting worker does not answer."""
    try:
        return metric(env, "platestream_reads_total")
    except OSError:
        return 0.0


def arrow_load(
    start_ms: int, entries: list[dict], batches: int, batch_reads: int, sightings: int
) -> tuple[list[pa.Table], set[tuple[str, str]]]:
    """Synthetic background traffic plus hot reads; the (read_id, entry_id) pairs the hot reads must hit."""
    synth = Synth(
        SynthConfig(
            seed=23,
            vehicles=20_000,
            cameras=60,
            sites=6,
            hot_traffic=0.0,  # the synthetic hot list is not loaded: its vehicles are ordinary traffic here
            bad_rate=0.0,  # every read is a good one (checked below, independently)
            start_ms=start_ms,
        )
    )
    tables = list(synth.batches(batches * batch_reads, batch_reads))
    hot: list[list[dict]] = [[] for _ in tables]
    expected = set()
    for k in range(len(entries) * sightings):
        e = entries[k % len(entries)]
        b = k % len(tables)
        t0 = tables[b]["captured_at"][0].value
        read_id = f"hot-{k:04d}"
        hot[b].append(
            {
                "read_id": read_id,
                "camera_id": f"hcam-{k:03d}",  # a camera per hot read: never a duplicate, whatever the dedup state
                "site_id": "hsite",
                "captured_at": t0 + k,
                "plate": e["plate"],
                "region": e["region"],
                "confidence": 95.0,
                "candidates": None,
            }
        )
        expected.add((read_id, e["entry_id"]))
    out = [
        pa.concat_tables([t, pa.Table.from_pylist(h, schema=READ_SCHEMA)]) if h else t
        for t, h in zip(tables, hot, strict=True)
    ]
    return out, expected


def assert_all_good(tables: list[pa.Table], now_ms: int) -> None:
    """Independent of the validator: every row passes the documented checks, and no background plate is 8 long."""
    for t in tables:
        plate_len = pc.utf8_length(t["plate"])
        assert pc.all(pc.and_(pc.greater(plate_len, 0), pc.less_equal(plate_len, 12))).as_py()
        assert pc.all(pc.match_substring_regex(t["plate"], r"^[A-Z0-9]+$")).as_py()
        assert t["read_id"].null_count == 0 and t["camera_id"].null_count == 0
        ms = t["captured_at"].cast(pa.int64())
        assert pc.min(ms).as_py() > now_ms - 3_600_000 and pc.max(ms).as_py() < now_ms
        conf = t["confidence"]
        assert pc.min(conf).as_py() >= 0 and pc.max(conf).as_py() <= 100
        region = pc.drop_null(t["region"])
        assert pc.all(pc.is_in(region, pa.array(["CA", "NV", "AZ", "OR", "MT", "CO"]))).as_py()
        background = pc.invert(pc.starts_with(t["read_id"], "hot-"))
        bg = t.filter(background)
        assert not pc.any(pc.equal(pc.utf8_length(bg["plate"]), 8)).as_py()
        cands = pc.list_flatten(bg["candidates"].combine_chunks())
        if len(cands):
            assert not pc.any(pc.equal(pc.utf8_length(pc.struct_field(cands, "plate")), 8)).as_py()


def assert_outputs(
    env: dict[str, str],
    expected: set[tuple[str, str]],
    total_reads: int,
    entries: list[dict],
    note: str = "",
    stores: list[str] | None = None,
) -> None:
    """The invariants after any fault: the hits topic, de-duplicated by ``hit_id``, is exactly the expected set of
    (read, entry) pairs; ``read_counts`` holds every good read once; ``hit_counts`` every distinct hit once."""
    from streams.store.clickhouse import ChdbStore

    bootstrap, prefix = env["PLATESTREAM_KAFKA_BOOTSTRAP"], env["PLATESTREAM_TOPIC_PREFIX"]
    raw_hits = [json.loads(v) for v in read_to_end(bootstrap, f"{prefix}hits")]
    by_id: dict[str, tuple[str, str]] = {}
    for h in raw_hits:
        pair = (h["read_id"], h["entry_id"])
        assert by_id.setdefault(h["hit_id"], pair) == pair, "one hit_id for two different (read, entry) pairs"
        assert h["match_kind"] == "exact" and h["status"] == "unverified"
    got = set(by_id.values())
    assert got == expected, f"missing {sorted(expected - got)[:5]}, unexpected {sorted(got - expected)[:5]}"
    assert len(by_id) == len(expected)

    reason_of = {e["entry_id"]: e["reason"] for e in entries}
    expected_by_reason = Counter(reason_of[entry] for _, entry in expected)
    reads = 0
    by_kind: Counter = Counter()
    for path in stores or [env["PLATESTREAM_CHDB_PATH"]]:  # one embedded store per worker process: counts add up
        store = ChdbStore(path)
        try:
            reads += store.query_arrow("SELECT sum(reads) AS r FROM read_counts")["r"][0].as_py() or 0
            for h in store.query_arrow(
                "SELECT reason, match_kind, sum(hits) AS h FROM hit_counts GROUP BY reason, match_kind"
            ).to_pylist():
                by_kind[(h["reason"], h["match_kind"])] += h["h"]
        finally:
            store.close()
    assert reads == total_reads, f"read_counts.reads = {reads}, expected {total_reads} good reads {note}"
    assert dict(by_kind) == {(reason, "exact"): n for reason, n in expected_by_reason.items()}


def fault_env(worker_env: dict[str, str], tmp_path: Path, entries: list[dict], **extra: str) -> dict[str, str]:
    """A worker environment for the fault tests: the test's hot list, and the broker's shortest session timeout
    (6 s: after a SIGKILL the group waits this long for the dead member), plus ``extra`` settings."""
    return dict(
        worker_env,
        PLATESTREAM_HOTLIST_PATH=str(hotlist_csv(tmp_path / "hotlist.csv", entries)),
        PLATESTREAM_SESSION_TIMEOUT_S="6",
        **extra,
    )


def settings_for(env: dict[str, str]):  # noqa: ANN201 - streams.config.settings.Settings
    """The settings a test's own producer uses: the worker's broker, topic prefix and 3 partitions."""
    from streams.config.settings import load_settings

    return load_settings(
        kafka_bootstrap=env["PLATESTREAM_KAFKA_BOOTSTRAP"], topic_prefix=env["PLATESTREAM_TOPIC_PREFIX"], partitions=3
    )


# Principals as the API signs them (roles from policies/access.yaml).
ADMIN = Principal("ana", "metro-pd", ("admin",))
OPERATOR = Principal("op-7", "metro-pd", ("operator",))
SUPERVISOR = Principal("sup-1", "metro-pd", ("supervisor",))


def with_control_keys(env: dict[str, str], folder: Path) -> tuple[dict[str, str], ControlSigner]:
    """``env`` with the worker trusting a fresh control key (``PLATESTREAM_CONTROL_KEYS_FILE``), and its signer."""
    folder.mkdir(parents=True, exist_ok=True)
    _, public, signer = control_keys(folder)
    return dict(env, PLATESTREAM_CONTROL_KEYS_FILE=str(public)), signer


def signed(signer: ControlSigner, event: dict, principal: Principal) -> bytes:
    """The envelope the API would publish for ``event`` asked for by ``principal``."""
    return signer.seal(event, principal)


def forged(event: dict, principal: Principal, folder: Path) -> bytes:
    """``event`` sealed with a key no worker trusts."""
    _, _, other = control_keys(folder)
    return other.seal(event, principal)


def publish(producer, topic: str, key: str, value: bytes) -> tuple[int, int]:  # noqa: ANN001 - a confluent Producer
    """Produce one message and wait for it: its (partition, offset)."""
    done: list[tuple[int, int]] = []
    producer.produce(
        topic, value, key=key.encode(), on_delivery=lambda err, msg: done.append((msg.partition(), msg.offset()))
    )
    assert producer.flush(30) == 0 and done, f"not delivered to {topic}"
    return done[0]


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at ``port`` on this machine, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        host, p = local.split(":")
        if state == "0A" and int(p, 16) == port:  # 0A: LISTEN
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(host))))
    return found
