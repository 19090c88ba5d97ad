"""Input limits with their own dead-letter reasons: plate text longer than allowed, cameras not in the registry.

Applied to decoded reads before the core (the size of a message and its rows per message are checked while
decoding, see ``decode_arrow``). Vectorised: one mask over the batch; only refused rows become Python objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from streams.errors import ConfigError
from streams.ingest.camera_sites import load_camera_sites
from streams.model import deadletter as dl
from streams.model.deadletter import DeadLetter
from streams.model.decoded import Decoded


@dataclass(frozen=True)
class InputLimits:
    max_plate_chars: int = 32
    cameras: pa.Array | None = None  # the camera registry; None: any camera is taken


def load_camera_registry(path: str | Path) -> pa.Array:
    """Camera ids from a CSV file with a ``camera_id`` column; its optional report columns (area, agency, mount,
    deployed_on, retired_on: ``camera_sites``) are validated too, so a bad registry fails at start-up."""
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=["camera_id"], column_types={"camera_id": pa.string()}
            ),
        )
    except (OSError, pa.ArrowInvalid, KeyError) as exc:
        raise ConfigError(f"camera registry {path}: {str(exc).splitlines()[0][:200]}") from None
    ids = pc.unique(pc.drop_null(table["camera_id"].combine_chunks()))
    if len(ids) == 0:
        raise ConfigError(f"camera registry {path}: no camera ids (an empty registry would refuse every read)")
    load_camera_sites(path)
    return ids


def apply_limits(decoded: Decoded, limits: InputLimits) -> Decoded:
    """Move reads that break a limit to dead letters (the row as JSON, like the core's row dead letters)."""
    reads = decoded.reads
    if reads.num_rows == 0:
        return decoded
    too_long = pc.fill_null(pc.greater(pc.utf8_length(reads["plate"]), limits.max_plate_chars), False)
    bad = too_long
    if limits.cameras is not None:
        # A read without a camera is left to the core (`missing_camera`).
        unknown = pc.and_(pc.is_valid(reads["camera_id"]), pc.invert(pc.is_in(reads["camera_id"], limits.cameras)))
        unknown = pc.fill_null(unknown, False)
        bad = pc.or_(bad, unknown)
    bad_np = bad.to_numpy()  # table columns are chunked: so are the masks
    if not bad_np.any():
        return decoded
    rows = np.flatnonzero(bad_np)
    long_np = too_long.to_numpy()
    dead = list(decoded.dead)
    sub = reads.take(pa.array(rows))
    sub = sub.set_column(sub.schema.get_field_index("captured_at"), "captured_at", sub["captured_at"].cast(pa.int64()))
    for i, row in zip(rows, sub.to_pylist(), strict=True):
        raw = json.dumps(row, separators=(",", ":"), default=str).encode()
        origin = decoded.origins[i] if i < len(decoded.origins) else "unknown"
        if long_np[i]:
            reason, detail = dl.PLATE_TOO_LONG, f"row {int(i)}: plate over {limits.max_plate_chars} characters"
        else:
            reason, detail = dl.UNKNOWN_CAMERA, f"row {int(i)}: camera not in the registry"
        dead.append(DeadLetter(reason, detail, raw, origin, int(i)))
    keep = np.ones(reads.num_rows, bool)
    keep[rows] = False
    origins = [decoded.origins[i] for i in np.flatnonzero(keep)] if decoded.origins else []
    return Decoded(reads.filter(pa.array(keep)), decoded.heartbeats, dead, origins)
