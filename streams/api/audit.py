"""The API's audit routes beyond the raw records: the review (``auditor``) and a case's discovery bundle
(``records``). Both run the same code as `platestream audit review` and `audit export`."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from streams import clock
from streams.api.gate import needs
from streams.api.reads import STORE_DOWN, Who, service_of
from streams.api.refusals import Refused
from streams.config.review_policy import load_review_policy
from streams.core.review import review
from streams.errors import PlatestreamError, StoreError
from streams.model.audit import AuditEntry
from streams.store import audit as audit_store
from streams.store.discovery import export_case
from streams.store.review import audit_rows, process_rows
from streams.store.sharing import shared_agencies

__all__ = ["router"]

router = APIRouter()
Ms = Annotated[int | None, Query(ge=0, le=2**62)]


class ExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case_number: str = Field(min_length=1, max_length=128)


@router.get("/v1/audit/review", openapi_extra=needs("audit.read"))
def audit_review(request: Request, who: Who, since: Ms = None, until: Ms = None) -> dict[str, Any]:
    """The review's flags over the records of a period (default: all up to now), each naming its records."""
    end = clock.now_ms() if until is None else until
    who.attempt.detail = {"since": since, "until": end}

    def gather(store: Any) -> tuple[Any, Any, tuple[str, ...]]:
        return audit_rows(store, since, end), process_rows(store), shared_agencies(store)

    try:
        records, processes, allowed = service_of(request).with_store(gather)
    except StoreError:
        raise Refused(503, "store_error", STORE_DOWN) from None
    flags = review(
        records,
        processes,
        load_review_policy(None, service_of(request).settings.search_policy_path),
        allowed,
        since_ms=since,
        until_ms=end,
    )
    who.attempt.rows = len(flags)
    return {"flags": [f.to_json() for f in flags], "records": records.num_rows}


@router.post("/v1/audit/export", openapi_extra=needs("records.discover"))
def audit_export(body: ExportBody, request: Request, who: Who) -> Response:
    """A case's discovery bundle as a zip (check it with `platestream audit verify --bundle`)."""
    service = service_of(request)
    settings = service.settings
    p = who.principal
    who.attempt.case_number = body.case_number
    exporter = AuditEntry(0, "records.export", p.actor, agency=p.agency, role=who.attempt.role,
                          client=who.attempt.client, reason="discovery export")  # fmt: skip
    verifier = audit_store.verifier()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bundle"

        def run(store: Any) -> Any:
            return export_case(store, body.case_number, audit_store.signer(), verifier,
                               settings.audit_checkpoint_dir, out, exporter, clock.now_ms())  # fmt: skip

        try:
            done = service.with_store(run)
        except StoreError:
            raise Refused(503, "store_error", STORE_DOWN) from None
        except PlatestreamError as exc:
            raise Refused(404 if "nothing in the audit log" in str(exc) else 409, "export_refused", str(exc)) from None
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(out.iterdir()):
                z.write(f, f.name)
    who.attempt.rows = done.records
    name = f"bundle-{body.case_number}.zip".replace("/", "_")
    return Response(buf.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
