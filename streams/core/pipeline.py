"""One batch through the core: validate -> normalise -> de-duplicate -> match -> aggregate.

The embedded runner, ``platestream replay`` and the Kafka workers all call ``Processor.process``. An engine computes
the stage outputs of the batch (``engine.stages.StageOutputs``): the compiled one (``engine.compiled``) unless
``ProcessorConfig.engine`` is ``"reference"``, the numpy implementation the compiled one is tested against
(identical results). ``process`` turns them into the ``BatchResult`` (dead letters, hit rows, the alert-per-passage
rule, aggregates, stored reads), the same way for both. Time comes in as ``now_ms`` (wall clock in workers, event
time in replays).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.core import aggregate
from streams.core.confusables import DEFAULT_LUT
from streams.core.dedup import Deduplicator
from streams.core.engine.compiled import CompiledEngine
from streams.core.engine.reference import ReferenceEngine
from streams.core.engine.stages import Engine, StageOutputs
from streams.core.hotlist import HotList
from streams.core.live_hotlist import LiveHotList
from streams.core.match import Matches, differing_positions
from streams.core.normalise import stable_codes
from streams.core.stopwatch import Stopwatch
from streams.core.validate import REASON_CODES, Limits
from streams.model.batch import HIT_SCHEMA, STORED_READ_SCHEMA, BatchResult
from streams.model.deadletter import DeadLetter
from streams.model.decoded import Decoded
from streams.model.match_kinds import CANDIDATE, EXACT, KINDS

# ProcessorConfig.engine -> the engine that computes the stage outputs
ENGINES: dict[str, type[CompiledEngine] | type[ReferenceEngine]] = {
    "kernel": CompiledEngine,
    "reference": ReferenceEngine,
}
# A dead row as the JSON it is kept as; what JSON has no type for (a decimal, bytes) as its text.
ROW_JSON = msgspec.json.Encoder(enc_hook=str)


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
    # "kernel": the compiled core (streams/core/engine/compiled.py); "reference": the numpy implementation it is
    # tested against (streams/core/engine/reference.py). Both give identical results.
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
        cfg = self.config
        self.engine: Engine = ENGINES[cfg.engine](cfg.limits, cfg.dedup_window_ms, cfg.bucket_ms, lut)
        self.reads_dedup = self.engine.dedup  # the engine's state; expired here by the retention clock
        self.hits_dedup = Deduplicator(cfg.alert_window_ms)  # hits are few: numpy is fine
        self.stopwatch: Stopwatch | None = None  # set to time the compiled path stage by stage

    def process(self, decoded: Decoded, now_ms: int, source: str = "batch") -> BatchResult:
        """One batch: the engine computes the stage outputs, turned here into the ``BatchResult``."""
        cfg = self.config
        reads = decoded.reads
        sw = self.stopwatch
        if sw:
            sw.start()
        segments = self.hotlist.segments
        out = self.engine.run(reads, now_ms, segments, sw)
        dead = list(decoded.dead)
        bad = np.flatnonzero(out.reason)
        if len(bad):
            dead.extend(self._row_dead_letters(decoded, bad, out.reason))
        if sw:
            sw.lap("dead-letter rows")

        stale = self.hotlist.stale_sources(now_ms)
        parts = [self._hits(reads, out, m, seg, stale) for seg, m in zip(segments, out.matches, strict=True)]
        hits = self._alert_once_per_passage(pa.concat_tables(parts) if parts else HIT_SCHEMA.empty_table())
        if sw:
            sw.lap("hit rows")

        # hit_only: no read may stay in state past its batch; de-duplication then works within a batch only.
        expired_now = self.reads_dedup.clear() if cfg.nonhit_state_ms <= 0 else 0
        result = BatchResult(
            hits=hits,
            read_counts=out.read_counts,
            hit_counts=aggregate.hit_counts(hits, cfg.bucket_ms),
            dead_letter_counts=aggregate.dead_letter_counts([(now_ms, source, d.reason) for d in dead], cfg.bucket_ms),
            camera_health=aggregate.camera_health(decoded.heartbeats, cfg.bucket_ms),
            expiry_counts=aggregate.expiry_counts(expired_now, now_ms, cfg.bucket_ms),
            dead=dead,
            reads=out.good,
            duplicates=out.duplicates,
            heartbeats=decoded.heartbeats.num_rows,
            expired=expired_now,
            stored_reads=self._stored_reads(reads, out, hits),
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

    def _stored_reads(self, reads: pa.Table, out: StageOutputs, hits: pa.Table) -> pa.Table:
        """The batch's fresh reads for the read store, as ``ProcessorConfig.keep_reads`` says."""
        keep = self.config.keep_reads
        fresh = out.fresh
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
                "region": out.region_text(fresh),
                "plate_code": pa.array(out.plate_code[fresh], pa.uint64()),
                "confidence": pc.cast(reads["confidence"].take(rows), pa.float32()),
                "hit": hit,
            },
            schema=STORED_READ_SCHEMA,
        )
        return table if keep == "all" else table.filter(table["hit"])

    def _hits(self, reads: pa.Table, out: StageOutputs, m: Matches, seg: HotList, stale_sources: set[str]) -> pa.Table:
        """Hit rows of one hot-list segment; ``alert`` here is what policy allows, before the passage rule."""
        if len(m) == 0:
            return HIT_SCHEMA.empty_table()
        cfg = self.config
        rows = pa.array(m.read, pa.int64())
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
                "read_plate": out.plate_text(m.read),
                "read_region": out.region_text(m.read),
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
                "entry_agency": e["agency"].take(ents),
                "entry_expiry_rule": e["expiry_rule"].take(ents),
                "candidates": reads["candidates"].take(rows),
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
            raw = ROW_JSON.encode(row)
            origin = decoded.origins[i] if i < len(decoded.origins) else "unknown"
            name = REASON_CODES[int(reason[i])] or "unknown"
            out.append(DeadLetter(name, f"row {int(i)} failed check {name}", raw, origin, int(i)))
        return out
