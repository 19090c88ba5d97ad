"""Camera payloads as the vendors document them (Rekor Scout "JSON Group Results" / "JSON Heartbeat" / "JSON Plate
Results", Plate Recognizer Stream and Snapshot webhooks), with real-sized base64 crops where they carry images."""

from __future__ import annotations

import base64
import json
import os
import time

# A real alpr_group with its crops is about 1.6 MB: two crops of this size.
CROP = base64.b64encode(os.urandom(600_000)).decode()
PLATE = "D2651BF"


def alpr_group(camera: int = 1234, plate: str = PLATE, epoch_ms: int | None = None, uuid_tail: str = "1") -> dict:
    start = epoch_ms if epoch_ms is not None else int(time.time() * 1000) - 5_000
    agent = "Y" * 40
    return {
        "epoch_end": start + 2975,
        "best_image_height": 2160,
        "best_image_width": 4096,
        "best_region_confidence": 57.28,
        "is_parked": False,
        "agent_type": "alprd",
        "data_type": "alpr_group",
        "gps_latitude": 37.635986328125,
        "gps_longitude": -122.4567,
        "frame_start": 0,
        "best_region": "us-mo",
        "agent_uid": agent,
        "agent_version": "2.7.101",
        "country": "us",
        "uuids": [f"{agent}-{camera}-{start}-{uuid_tail}"],
        "plate_indexes": [0],
        "frame_end": 72,
        "epoch_start": start,
        "vehicle_crop_jpeg": CROP,
        "version": 2,
        "candidates": [
            {"matches_template": 0, "plate": plate, "confidence": 91.2},
            {"matches_template": 0, "plate": plate[:-1], "confidence": 80.8},
        ],
        "camera_id": camera,
        "company_id": "00000000-0000-0000-0000-000000000000",
        "best_plate": {
            "plate": plate,
            "confidence": 91.2,
            "matches_template": 0,
            "plate_index": 0,
            "region": "us-mo",
            "region_confidence": 57,
            "processing_time_ms": 47.0,
            "requested_topn": 10,
            "coordinates": [{"x": 3257, "y": 188}, {"x": 3467, "y": 194}, {"x": 3460, "y": 307}, {"x": 3247, "y": 302}],
            "plate_crop_jpeg": CROP,
            "vehicle_region": {"x": 3042, "y": 0, "width": 630, "height": 630},
            "candidates": [{"plate": plate, "confidence": 91.2, "matches_template": 0}],
        },
        "best_confidence": 91.2,
        "best_plate_number": plate,
        "best_uuid": f"{agent}-{camera}-{start}-{uuid_tail}",
        "best_uuid_epoch_ms": start,
        "vehicle": {"color": [{"name": "silver", "confidence": 78.1}], "make": [], "body_type": []},
        "travel_direction": 180.0,
        "site_id": "watchman-site",
    }


def heartbeat(cameras: dict[int, bool], epoch_ms: int | None = None) -> dict:
    when = epoch_ms if epoch_ms is not None else int(time.time() * 1000)
    return {
        "data_type": "heartbeat",
        "version": 2,
        "agent_uid": "Y" * 40,
        "agent_version": "2.7.101",
        "agent_hostname": "alpr-agent-1",
        "agent_type": "alprd",
        "os": "linux",
        "timestamp": when,
        "system_uptime_seconds": 3600,
        "daemon_uptime_seconds": 3500,
        "cpu_cores": 4,
        "cpu_usage_percent": 61.0,
        "memory_used_bytes": 2_000_000_000,
        "beanstalk_queue_size": 0,
        "video_streams": [
            {
                "camera_id": cam,
                "camera_name": f"Lane {cam}",
                "fps": 14 if up else 0,
                "is_streaming": up,
                "url": f"rtsp://10.0.0.{i + 10}/stream",
                "last_update": when,
                "gps_latitude": 37.63598 + i * 0.001,
                "gps_longitude": -122.4567,
            }
            for i, (cam, up) in enumerate(cameras.items())
        ],
    }


def alpr_results(camera: int = 1234) -> dict:
    return {
        "processing_time_ms": 105.85,
        "data_type": "alpr_results",
        "uuid": f"{'Y' * 40}-{camera}-1562681608425",
        "version": 2,
        "camera_id": camera,
        "epoch_time": int(time.time() * 1000),
        "results": [
            {
                "plate_index": 0,
                "plate_crop_jpeg": CROP[:10_000],
                "plate": PLATE,
                "region": "us-mo",
                "confidence": 92.94,
                "candidates": [{"plate": PLATE, "confidence": 92.94, "matches_template": 0}],
            }
        ],
    }


def plate_recognizer_stream(camera: str = "camera-1", plate: str = "9jub11", when: str | None = None) -> dict:
    stamp = when or time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - 5))
    return {
        "hook": {"target": "https://gateway.example/v1/platerecognizer", "id": camera, "event": "recognition"},
        "data": {
            "camera_id": camera,
            "filename": f"{camera}_screenshots/21-09-29/05-56-13.606935.jpg",
            "timestamp": stamp,
            "timestamp_local": stamp.replace("T", " ").replace("Z", "+00:00"),
            "results": [
                {
                    "box": {"xmin": 460, "ymin": 57, "xmax": 557, "ymax": 82},
                    "plate": plate,
                    "region": {"code": "gb", "score": 0.413},
                    "score": 0.839,
                    "candidates": [{"plate": plate}, {"plate": "sju88y"}, {"plate": "sjubi"}],
                    "dscore": 0.441,
                    "vehicle": {"score": 0.267, "type": "Big Truck", "box": {"xmin": 387, "ymin": 23}},
                    "direction": "",
                    "source_url": "/user-data/Elixirtech_Slow2_Indoor.mp4",
                    "position_sec": 4,
                }
            ],
        },
    }


def plate_recognizer_snapshot(camera: str = "gate-2", plate: str = "nhk552") -> dict:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S.030345", time.gmtime(time.time() - 5))  # UTC without an offset
    return {
        "hook": {"target": "https://gateway.example/v1/platerecognizer", "id": 479, "event": "image.done"},
        "data": {
            "filename": "car2.jpg",
            "timestamp": stamp,
            "camera_id": camera,
            "processing_time": 288.6,
            "results": [
                {
                    "box": {"xmin": 159, "ymin": 166, "xmax": 261, "ymax": 191},
                    "plate": plate,
                    "region": {"code": "us-ca", "score": 0.747},
                    "score": 0.904,
                    "candidates": [{"score": 0.904, "plate": plate}, {"score": 0.751, "plate": "nhk55z"}],
                    "dscore": 0.729,
                    "vehicle": {"score": 0.812, "type": "Sedan", "box": {"xmin": 81, "ymin": 65}},
                }
            ],
        },
    }


def multipart(doc: dict, boundary: str = "platestream-test-boundary") -> tuple[bytes, str]:
    """A "webhook with image": the JSON in a `json` field, a JPEG in `upload`."""
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(50_000) + b"\xff\xd9"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n{json.dumps(doc)}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; filename="car.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + jpeg
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"
