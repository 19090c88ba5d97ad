"""One batch through the core: validate -> normalise -> de-duplicate -> match -> aggregate.

The embedded runner, ``platestream replay`` and the Kafka workers all call ``Processor.process``. It runs on the
compiled core (``streams.core.kernel``) unless ``ProcessorConfig.engine`` is ``"reference"``: the numpy
implementation the compiled one is tested against (identical results). Time comes in as ``now_ms`` (wall clock in
workers, event time in replays).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core import aggregate, kernel
from streams.core.confusables import DEFAULT_LUT
from streams.core.dedup import Deduplicator
from streams.core.hotlist import HotList
from streams.core.live_hotlist import LiveHotList
from streams.core.match import (
    CANDIDATE,
    EXACT,
    KINDS,
    Matches,
    ReadKeys,
    differing_positions,
    match,
    resolve_pairs,
)
from streams.core.normalise import (
    decode_codes,
    encode_plates,
    encode_plates_sym,
    encode_regions,
    normalise_plates,
    normalise_regions,
    stable_codes,
)
from streams.core.validate import REASON_CODES, Limits, row_reasons
from streams.model import deadletter as dl
from streams.model.batch import HIT_SCHEMA, STORED_READ_SCHEMA, BatchResult
from streams.model.deadletter import DeadLetter
from streams.model.decoded import Decoded

ENGINES = ("kernel", "reference")

# row checks in the order ``validate.row_reasons`` applies them (the first failing check wins)
_CHECK_ORDER = np.array(
    [
        REASON_CODES.index(r)
        for r in (
            dl.MISSING_READ_ID,
            dl.MISSING_CAMERA,
            dl.MISSING_TIME,
            dl.TIME_IN_FUTURE,
            dl.TIME_TOO_OLD,
            dl.MISSING_PLATE,
            dl.BAD_PLATE,
            dl.BAD_REGION,
            dl.BAD_CONFIDENCE,
        )
    ],
    np.uint8,
)


@dataclass(frozen=True)
class ProcessorConfig:
    dedup_window_ms: int = 60_000  # a gap this long ends a passage at one camera
    alert_window_ms: int = 600_000  # one alert per entry and passage: repeats inside this window do not alert
    nonhit_state_ms: int = 300_000  # longest time processor state may hold a read that hit nothing
    bucket_ms: int = 3_600_000  # aggregate time bucket
    limits: Limits = field(default_factory=lambda: Limits(max_future_skew_ms=300_000, max_age_ms=7 * 86_400_000))
    alert_kinds: frozenset[str] = frozenset({"exact", "candidate", "confusable"})
    low_confidence: float = 80.0
    # Which reads go to the read store (``BatchResult.stored_reads``): "none", "hits" (reads behind a hit) or
    # "all". Set from the retention policy: a data class with a 0 s limit is not stored at all.
    keep_reads: str = "none"
    # "kernel": the compiled core (streams/core/kernel.py); "reference": the numpy implementation it is tested
    # against. Both give identical results.
    engine: str = "kernel"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")


class Processor:
    """Holds the hot-list replica and the de-duplication state of one worker (or of one embedded run)."""

    def __init__(
        self, hotlist: HotList | LiveHotList, config: ProcessorConfig | None = None, lut: np.ndarray = DEFAULT_LUT
    ):
        self.hotlist = hotlist if isinstance(hotlist, LiveHotList) else LiveHotList.of(hotlist, lut=lut)
        self.config = config or ProcessorConfig()
        self.lut = lut
        self.kernel = self.config.engine == "kernel"
        if self.kernel:
            kernel.warm_up()
        self.reads_dedup: Deduplicator | kernel.HashDeduplicator = (
            kernel.HashDeduplicator(self.config.dedup_window_ms)
            if self.kernel
            else Deduplicator(self.config.dedup_window_ms)
        )
        self.hits_dedup = Deduplicator(self.config.alert_window_ms)  # hits are few: numpy is fine
        self.stopwatch: kernel.Stopwatch | None = None  # set to time the compiled path stage by stage

    def process(self, decoded: Decoded, now_ms: int, source: str = "batch") -> BatchResult:
        if self.kernel:
            return self._process_kernel(decoded, now_ms, source)
        cfg = self.config
        reads = decoded.reads
        plate = normalise_plates(reads["plate"])
        region = normalise_regions(reads["region"])
        plate_code, plate_ok, plate_sym, plate_len = encode_plates_sym(plate)
        region_code, region_ok = encode_regions(region)
        empty = plate_len == 0  # null or nothing left after normalisation
        reason = row_reasons(reads, plate_ok, empty, region_ok, now_ms, cfg.limits)

        dead = list(decoded.dead)
        bad = np.flatnonzero(reason)
        if len(bad):
            dead.extend(self._row_dead_letters(decoded, bad, reason))
            good = pa.array(reason == 0)
            reads, plate, region = reads.filter(good), plate.filter(good), region.filter(good)
            keep = reason == 0
            plate_code, region_code, plate_sym = plate_code[keep], region_code[keep], plate_sym[keep]

        t_ms = reads["captured_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
        duplicate = self.reads_dedup.observe(plate_code, region_code, stable_codes(reads["camera_id"]), t_ms)

        # Matching runs on the first read of each passage: a duplicate adds frames, not information.
        fresh = np.flatnonzero(~duplicate)
        rk = self._read_keys(reads, plate_sym, plate_code, region_code, t_ms, fresh)
        stale = self.hotlist.stale_sources(now_ms)
        parts = []
        for seg in self.hotlist.segments:
            m = match(seg, rk, self.lut)
            rows = pa.array(fresh[m.read])
            parts.append(self._hits(reads, rows, plate.take(rows), region.take(rows), m, seg, stale))
        hits = self._alert_once_per_passage(pa.concat_tables(parts) if parts else HIT_SCHEMA.empty_table())

        # hit_only: no read may stay in state past its batch; de-duplication then works within a batch only.
        expired_now = self.reads_dedup.clear() if cfg.nonhit_state_ms <= 0 else 0
        window = aggregate.bucket(t_ms, cfg.bucket_ms)
        dead_keys = [(now_ms, source, d.reason) for d in dead]
        return BatchResult(
            hits=hits,
            read_counts=aggregate.read_counts(window, reads["camera_id"], reads["site_id"], duplicate),
            hit_counts=aggregate.hit_counts(hits, cfg.bucket_ms),
            dead_letter_counts=aggregate.dead_letter_counts(dead_keys, cfg.bucket_ms),
            camera_health=aggregate.camera_health(decoded.heartbeats, cfg.bucket_ms),
            expiry_counts=aggregate.expiry_counts(expired_now, now_ms, cfg.bucket_ms),
            dead=dead,
            reads=reads.num_rows,
            duplicates=int(duplicate.sum()),
            heartbeats=decoded.heartbeats.num_rows,
            expired=expired_now,
            stored_reads=self._stored_reads(reads, fresh, region.take, plate_code, hits),
        )

    def _process_kernel(self, decoded: Decoded, now_ms: int, source: str) -> BatchResult:
        """``process`` on the compiled core: the same results, with row indices into the unfiltered batch."""
        cfg = self.config
        reads = decoded.reads
        sw = self.stopwatch
        if sw:
            sw.start()
        s = kernel.scan(reads, now_ms, cfg.limits, _CHECK_ORDER, self.reads_dedup, cfg.bucket_ms, self.lut, sw)
        dead = list(decoded.dead)
        bad = np.flatnonzero(s.reason)
        if len(bad):
            dead.extend(self._row_dead_letters(decoded, bad, s.reason))
        if sw:
            sw.lap("dead-letter rows")

        stale = self.hotlist.stale_sources(now_ms)
        parts = []
        for seg in self.hotlist.segments:
            pairs = kernel.probe(reads, s, seg, self.lut)
            if sw:
                sw.lap("hot-list look-ups")
            m = resolve_pairs(
                seg,
                pairs[:, 0],
                pairs[:, 1],
                pairs[:, 2].astype(np.uint8),
                pairs[:, 3].astype(np.int16),
                s.t_ms,
                np.zeros(0, np.uint16) if not len(s.region_id) else s.region_code[s.region_id],
                s.plate_code,
                lambda idx: kernel.symbols(s.plate_code[idx]),
            )
            rows = pa.array(m.read, pa.int64())
            plate = decode_codes(s.plate_code[m.read])
            region = s.region_text.take(pa.array(s.region_id[m.read]))
            parts.append(self._hits(reads, rows, plate, region, m, seg, stale))
        hits = self._alert_once_per_passage(pa.concat_tables(parts) if parts else HIT_SCHEMA.empty_table())
        if sw:
            sw.lap("match rules + hit rows")

        expired_now = self.reads_dedup.clear() if cfg.nonhit_state_ms <= 0 else 0
        first = pa.array(s.group_first, pa.int64())
        result = BatchResult(
            hits=hits,
            read_counts=aggregate.read_count_rows(
                s.group_window_s,
                reads["camera_id"].take(first),
                reads["site_id"].take(first),
                s.group_reads,
                s.group_duplicates,
            ),
            hit_counts=aggregate.hit_counts(hits, cfg.bucket_ms),
            dead_letter_counts=aggregate.dead_letter_counts([(now_ms, source, d.reason) for d in dead], cfg.bucket_ms),
            camera_health=aggregate.camera_health(decoded.heartbeats, cfg.bucket_ms),
            expiry_counts=aggregate.expiry_counts(expired_now, now_ms, cfg.bucket_ms),
            dead=dead,
            reads=len(s.good),
            duplicates=int(s.group_duplicates.sum()),
            heartbeats=decoded.heartbeats.num_rows,
            expired=expired_now,
            stored_reads=self._stored_reads(
                reads, s.fresh, lambda rows: s.region_text.take(pa.array(s.region_id).take(rows)), s.plate_code, hits
            ),
        )
        if sw:
            sw.lap("aggregate tables")
        return result

    def expire(self, now_ms: int) -> int:
        """Retention clock: drop state older than its limit. Returns how many held reads were dropped."""
        cfg = self.config
        if self.stopwatch:
            self.stopwatch.start()
        if cfg.nonhit_state_ms <= 0:
            expired = self.reads_dedup.clear()
        else:
            # Held at most the hold after capture; a read stamped ahead (inside the skew window) is held that
            # much longer, so the bound is hold + max_future_skew.
            expired = self.reads_dedup.expire(now_ms - min(cfg.dedup_window_ms, cfg.nonhit_state_ms))
        self.hits_dedup.expire(now_ms - cfg.alert_window_ms)
        if self.stopwatch:
            self.stopwatch.lap("expire")
        return expired

    # -- helpers ------------------------------------------------------------------------------------------

    def _stored_reads(
        self, reads: pa.Table, fresh: np.ndarray, region: Callable[[pa.Array], pa.Array], plate_code: np.ndarray,
        hits: pa.Table,
    ) -> pa.Table:  # fmt: skip
        """``fresh``: rows of ``reads``; ``region(rows)``: their normalised regions; ``plate_code``: per row."""
        keep = self.config.keep_reads
        if keep == "none" or len(fresh) == 0:
            return STORED_READ_SCHEMA.empty_table()
        rows = pa.array(fresh)
        read_id = reads["read_id"].take(rows)
        hit = pc.is_in(read_id, value_set=hits["read_id"]) if hits.num_rows else pa.array(np.zeros(len(fresh), bool))
        table = pa.table(
            {
                "read_id": read_id,
                "captured_at": reads["captured_at"].take(rows),
                "camera_id": reads["camera_id"].take(rows),
                "site_id": reads["site_id"].take(rows),
                "region": region(rows),
                "plate_code": pa.array(plate_code[fresh], pa.uint64()),
                "confidence": pc.cast(reads["confidence"].take(rows), pa.float32()),
                "hit": hit,
            },
            schema=STORED_READ_SCHEMA,
        )
        return table if keep == "all" else table.filter(table["hit"])

    def _read_keys(
        self,
        reads: pa.Table,
        plate_sym: np.ndarray,
        plate_code: np.ndarray,
        region_code: np.ndarray,
        t_ms: np.ndarray,
        fresh: np.ndarray,
    ) -> ReadKeys:
        sym = plate_sym[fresh]
        cands = reads["candidates"].take(pa.array(fresh))
        cands = cands.combine_chunks() if isinstance(cands, pa.ChunkedArray) else cands
        lengths = pc.fill_null(pc.list_value_length(cands), 0).to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(cands)
        if len(flat):
            cand_plate = normalise_plates(flat.field("plate"))
            cand_code, cand_ok = encode_plates(cand_plate)
            cand_read = np.repeat(np.arange(len(fresh)), lengths)
            cand_rank = (np.arange(len(cand_read)) - np.repeat(np.cumsum(lengths) - lengths, lengths)).astype(np.int16)
            sel = cand_ok & (cand_code != plate_code[fresh][cand_read])
            cand_read, cand_rank, cand_code = cand_read[sel], cand_rank[sel], cand_code[sel]
        else:
            cand_read = np.zeros(0, np.int64)
            cand_rank = np.zeros(0, np.int16)
            cand_code = np.zeros(0, np.uint64)
        return ReadKeys(plate_code[fresh], sym, region_code[fresh], t_ms[fresh], cand_read, cand_rank, cand_code)

    def _hits(
        self,
        reads: pa.Table,
        rows: pa.Array,
        read_plate: pa.Array,
        read_region: pa.Array,
        m: Matches,
        seg: HotList,
        stale_sources: set[str],
    ) -> pa.Table:
        """Hit rows of one hot-list segment; ``alert`` here is what policy allows, before the passage rule.

        ``rows``: the row in ``reads`` of each match; ``read_plate``/``read_region``: its normalised plate/region."""
        if len(m) == 0:
            return HIT_SCHEMA.empty_table()
        cfg = self.config
        ents = pa.array(m.entry)
        e = seg.entries
        kinds = np.array(KINDS, dtype=object)[m.kind]
        conf = pc.fill_null(reads["confidence"].take(rows), 0).to_numpy(zero_copy_only=False)
        source = e["source"].take(ents)
        # A source that has not synced within the policy's limit may be stale: record, do not alert.
        stale = (
            pc.is_in(source, value_set=pa.array(sorted(stale_sources), pa.string())).to_numpy(zero_copy_only=False)
            if stale_sources
            else np.zeros(len(m), bool)
        )
        alertable = np.isin(kinds, list(cfg.alert_kinds)) & ~stale
        verify = (m.kind != EXACT) | (conf < cfg.low_confidence) | m.region_unknown

        read_ids = reads["read_id"].take(rows).to_pylist()
        entry_ids = e["entry_id"].take(ents).to_pylist()
        hit_ids = [
            hashlib.blake2b(f"{r}|{x}".encode(), digest_size=16).hexdigest()
            for r, x in zip(read_ids, entry_ids, strict=True)
        ]
        cand_text = [None] * len(m)
        for i in np.flatnonzero(m.kind == CANDIDATE):  # candidate hits only: a handful per batch
            item = reads["candidates"][rows[i].as_py()][int(m.candidate[i])]
            cand_text[i] = item["plate"].as_py()
        diffs = [differing_positions(int(d)) for d in m.differing]

        return pa.table(
            {
                "hit_id": pa.array(hit_ids, pa.string()),
                "read_id": pa.array(read_ids, pa.string()),
                "camera_id": reads["camera_id"].take(rows),
                "site_id": reads["site_id"].take(rows),
                "read_time": reads["captured_at"].take(rows),
                "read_plate": read_plate,
                "read_region": read_region,
                "ocr_confidence": pa.array(conf, pa.float32()),
                "entry_id": pa.array(entry_ids, pa.string()),
                "entry_plate": e["plate"].take(ents),
                "entry_region": e["region"].take(ents),
                "reason": e["reason"].take(ents),
                "legal_basis": e["legal_basis"].take(ents),
                "entry_expires_at": e["expires_at"].take(ents),
                "entry_source": source,
                "source_stale": pa.array(stale),
                "match_kind": pa.array(kinds.tolist(), pa.string()),
                "alert": pa.array(alertable),
                "repeat_passage": pa.array(np.zeros(len(m), bool)),
                "status": pa.array(["unverified"] * len(m), pa.string()),
                "verification_required": pa.array(verify),
                "matched_candidate": pa.array(cand_text, pa.string()),
                "candidate_rank": pa.array(np.where(m.kind == CANDIDATE, m.candidate, -1).astype(np.int16)),
                "differing_positions": pa.array(diffs, pa.list_(pa.int8())),
                "region_unknown": pa.array(m.region_unknown),
            },
            schema=HIT_SCHEMA,
        )

    def _alert_once_per_passage(self, hits: pa.Table) -> pa.Table:
        """One alert per entry and passage: a repeat sighting of an entry inside the alert window does not alert."""
        alertable = hits["alert"].to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(alertable)
        if len(idx) == 0:
            return hits
        entry = stable_codes(hits["entry_id"].take(pa.array(idx)))  # a stable code per entry id
        t_ms = hits["read_time"].cast(pa.int64()).to_numpy(zero_copy_only=False)[idx]
        zeros = np.zeros(len(idx), np.uint64)
        repeat = np.zeros(hits.num_rows, bool)
        repeat[idx] = self.hits_dedup.observe(entry, zeros.astype(np.uint16), zeros, t_ms)
        hits = hits.set_column(hits.schema.get_field_index("alert"), "alert", pa.array(alertable & ~repeat))
        return hits.set_column(hits.schema.get_field_index("repeat_passage"), "repeat_passage", pa.array(repeat))

    def _row_dead_letters(self, decoded: Decoded, bad: np.ndarray, reason: np.ndarray) -> list[DeadLetter]:
        sub = decoded.reads.take(pa.array(bad))
        # as integers: an absurd timestamp may not fit a Python datetime
        sub = sub.set_column(
            sub.schema.get_field_index("captured_at"), "captured_at", sub["captured_at"].cast(pa.int64())
        )
        out = []
        for i, row in zip(bad, sub.to_pylist(), strict=True):
            raw = json.dumps(row, separators=(",", ":"), default=str).encode()
            origin = decoded.origins[i] if i < len(decoded.origins) else "unknown"
            name = REASON_CODES[int(reason[i])] or "unknown"
            out.append(DeadLetter(name, f"row {int(i)} failed check {name}", raw, origin, int(i)))
        return out
