"""The gateway through its real HTTP server and the real broker: the agent's and the webhooks' documented payloads
arrive on reads.json as reads, keyed and partitioned by camera, with no image bytes; a bad body gets 400 and a dead
letter; no token 401, another camera's token 403, an oversized body 413; a broker that is not there 503; and no
gateway starts without authentication."""

from __future__ import annotations

import base64
import json

import pytest

from streams.ingest.decode import decode_json
from streams.kafka.camera_partition import camera_partition
from tests.gateway import payloads
from tests.gateway.helpers import messages, start_gateway, tokens_file
from tests.integration.helpers import cli
from tests.schemas.helpers import check

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway_env(worker_env, tmp_path):
    assert cli(worker_env, "topics", "create").returncode == 0
    path, tokens = tokens_file(tmp_path, {"agent": ["1234", "1235", "1236"], "stream": ["camera-1", "gate-2"]})
    env = dict(worker_env, PLATESTREAM_GATEWAY_TOKENS_FILE=str(path))
    gw = start_gateway(env)
    try:
        yield env, gw, tokens
    finally:
        gw.stop()


def test_documented_payloads_arrive_as_reads_without_images(gateway_env):
    env, gw, tokens = gateway_env
    group = json.dumps(payloads.alpr_group(camera=1234)).encode()
    assert len(group) > 1_500_000
    beat = json.dumps(payloads.heartbeat({1234: True, 1235: False})).encode()
    stream_body, ctype = payloads.multipart(payloads.plate_recognizer_stream(camera="camera-1", plate="9jub11"))
    snapshot = json.dumps(payloads.plate_recognizer_snapshot(camera="gate-2", plate="nhk552")).encode()

    assert gw.post("/v1/openalpr", group, tokens["agent"]).status_code == 202
    assert gw.post("/v1/openalpr", beat, tokens["agent"]).status_code == 202
    r = gw.post("/v1/platerecognizer", stream_body, tokens["stream"], **{"Content-Type": ctype})
    assert r.status_code == 202 and r.json() == {"accepted": 1}
    # A webhook target URL carries no header: the token in the query string works too.
    assert gw.post(f"/v1/platerecognizer?token={tokens['stream']}", snapshot).status_code == 202

    got = messages(env["PLATESTREAM_KAFKA_BOOTSTRAP"], env["PLATESTREAM_TOPIC_PREFIX"] + "reads.json")
    assert len(got) == 4  # answered 202 only after the broker confirmed: all there already
    crop_bytes = base64.b64decode(payloads.CROP)[:48]
    for _partition, _key, value in got:
        assert b"_jpeg" not in value and payloads.CROP[:64].encode() not in value and crop_bytes not in value
        assert len(value) < 10_000
        check("reads.json", value)  # the published schema of the topic
    # Reads keyed by camera, on the camera's partition: what the workers' de-duplication needs.
    decoded = decode_json([v for _, _, v in got], [f"m{i}" for i in range(4)], 8 * 1024 * 1024)
    assert not decoded.dead
    reads = {r["camera_id"]: r for r in decoded.reads.to_pylist()}
    assert set(reads) == {"1234", "camera-1", "gate-2"}
    assert reads["1234"]["plate"] == payloads.PLATE and reads["1234"]["region"] == "us-mo"
    assert reads["camera-1"]["plate"] == "9jub11" and reads["camera-1"]["confidence"] == pytest.approx(83.9)
    assert reads["gate-2"]["region"] == "us-ca" and reads["gate-2"]["confidence"] == pytest.approx(90.4)
    for partition, key, value in got:
        doc = json.loads(value)
        if doc.get("data_type") != "heartbeat":
            camera = str(doc["camera_id"])
            assert key == camera.encode() and partition == camera_partition(camera, 3)
    health = {r["camera_id"]: r["streaming"] for r in decoded.heartbeats.to_pylist()}
    assert health == {"1234": True, "1235": False}


def test_refusals_bad_body_unauthenticated_forbidden_oversized(gateway_env):
    env, gw, tokens = gateway_env
    bootstrap, prefix = env["PLATESTREAM_KAFKA_BOOTSTRAP"], env["PLATESTREAM_TOPIC_PREFIX"]
    bad = payloads.alpr_group(camera=1234, plate="SECRET9")
    bad["epoch_start"] = "yesterday"  # not milliseconds
    r = gw.post("/v1/openalpr", json.dumps(bad).encode(), tokens["agent"])
    assert r.status_code == 400 and r.json()["error"] == "wrong_schema" and "epoch_start" in r.json()["detail"]
    assert "SECRET9" not in r.text
    frames = json.dumps(payloads.alpr_results(camera=1234)).encode()
    r = gw.post("/v1/openalpr", frames, tokens["agent"])
    assert r.status_code == 400 and "upload_single_plates" in r.json()["detail"]

    letters = [json.loads(v) for _, _, v in messages(bootstrap, prefix + "deadletter")]
    assert [(x["reason"], x["source"], x["origin"]) for x in letters] == [
        ("wrong_schema", "gateway", "gateway/openalpr"),
        ("unknown_event", "gateway", "gateway/openalpr"),
    ]
    for x in letters:
        check("deadletter", x)
        original = base64.b64decode(x["original_b64"])
        assert b"_jpeg" not in original and len(original) < 10_000 and "SECRET9" not in x["detail"]
    assert "SECRET9" not in gw.output()

    group = json.dumps(payloads.alpr_group(camera=1234)).encode()
    assert gw.post("/v1/openalpr", group).status_code == 401
    assert gw.post("/v1/openalpr", group, "not-a-token").status_code == 401
    assert gw.post("/v1/openalpr", group, tokens["stream"]).status_code == 403  # camera 1234 is not the stream's
    huge = b'{"data_type": "alpr_group", "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    assert gw.post("/v1/openalpr", huge, tokens["agent"]).status_code == 413
    assert messages(bootstrap, prefix + "reads.json") == []  # nothing refused reached the reads


def test_broker_down_is_503(worker_env, tmp_path):
    path, tokens = tokens_file(tmp_path, {"agent": ["1234"]})
    env = dict(
        worker_env,
        PLATESTREAM_KAFKA_BOOTSTRAP="127.0.0.1:1",  # nothing listens
        PLATESTREAM_GATEWAY_TOKENS_FILE=str(path),
        PLATESTREAM_GATEWAY_DELIVERY_TIMEOUT_S="1",
    )
    gw = start_gateway(env)
    try:
        r = gw.post("/v1/openalpr", json.dumps(payloads.alpr_group(camera=1234)).encode(), tokens["agent"])
        assert r.status_code == 503 and r.json()["error"] == "broker_unavailable"
    finally:
        gw.stop()


def test_no_gateway_without_authentication(worker_env):
    done = cli(worker_env, "gateway", "serve", timeout=60)
    assert done.returncode == 1 and "without camera authentication" in done.stderr + done.stdout
    off_loopback = dict(worker_env, PLATESTREAM_GATEWAY_INSECURE="true", PLATESTREAM_GATEWAY_HOST="0.0.0.0")
    done = cli(off_loopback, "gateway", "serve", timeout=60)
    assert done.returncode == 1 and "loopback" in done.stderr + done.stdout
