"""The API phase of the month test: legal process registered, searches of every kind under several kinds of
process, refusals by rule, the sharing list set, and partner agencies' requests with their purposes, sent to a real
`platestream api` (a subprocess, real RS256 tokens from tests/support/issuer.py) whose clock stands in the month.

Each request is written down with what docs/aggregates.md says request_counts keeps of it (the ledger), and its
answer is checked as it comes back, so the ledger is what the gate decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.api.helpers import ApiServer
from tests.support.issuer import TokenIssuer

HOME = "metro-pd"
PARTNERS = {  # agency -> (warrant rules, retention) on the sharing list
    "state-patrol": ("state warrant statute 12.3", "30 days, then deleted"),
    "county-da": ("warrant or subpoena", "90 days"),
}
HOUR, DAY = 3_600_000, 86_400_000


@dataclass(frozen=True)
class Counted:
    """One request as request_counts counts it."""

    agency: str
    partner: int
    action: str
    kind: str
    justification: str
    purpose: str
    decision: str
    rule: str
    cameras: tuple[str, ...] = ()  # a search scoped to cameras (near_scene): the cameras it names


class Requests:
    """Sends requests and keeps the ledger."""

    def __init__(self, api: ApiServer, issuer: TokenIssuer, now: int):
        self.api, self.issuer, self.now = api, issuer, now
        self.ledger: list[Counted] = []

    def send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        token: str | None,
        expect: tuple[int, str],
        counted: Counted | None,
    ) -> dict[str, Any]:
        r = self.api.call(method, path, token, json=body)
        got = r.json()
        assert (r.status_code, got.get("rule", "") if r.status_code >= 400 else "") == expect, (path, r.text)
        if counted is not None:
            self.ledger.append(counted)
        return got

    def token(self, sub: str, agency: str, role: str) -> str:
        return self.issuer.token(sub, agency=agency, roles=[role])

    # -- the month's requests ---------------------------------------------------------------------------------

    def register(self, agency: str, kind: str, expect: tuple[int, str] = (201, ""), **scope: Any) -> str:
        body = {"kind": kind, "number": f"{kind}-{len(self.ledger)}", "issuer": "Superior Court", "case_number":
                "CR-300", "offence": "robbery", "from": self.now - 20 * DAY, "to": self.now + HOUR,
                "expires_at": self.now + 20 * DAY, **scope}  # fmt: skip
        decision = "allowed" if expect[0] < 400 else "refused"
        got = self.send(
            "POST",
            "/v1/process",
            body,
            self.token("sup", agency, "supervisor"),
            expect,
            Counted(agency, int(agency != HOME), "process.register", "", "none", "", decision, expect[1]),
        )
        return got.get("process_id", "")  # fmt: skip

    def search(
        self,
        kind: str,
        body: dict[str, Any],
        justification: str,
        expect: tuple[int, str] = (200, ""),
        agency: str = HOME,
        purpose: str | None = None,
        label: str = "",
        token: str | None | bool = True,
        cameras: tuple[str, ...] | None = None,
    ) -> None:
        full = {"reason": "robbery at 5th and Main", **body, **({} if purpose is None else {"purpose": purpose})}
        bearer = self.token("ivy" if agency == HOME else "trooper", agency, "investigator") if token is True else None
        who = agency if token is True else ""
        decision = "allowed" if expect[0] < 400 else "refused"
        cameras = tuple(body.get("cameras", ())) if cameras is None else cameras
        counted = Counted(who, int(who not in ("", HOME)), "search", kind, justification, label, decision, expect[1],
                          cameras)  # fmt: skip
        self.send("POST", f"/v1/search/{kind}", full, bearer, expect, counted)

    def run(self, hit_id: str, hit_camera: str) -> None:
        admin = self.token("adm", HOME, "admin")
        for agency, (rules, retention) in PARTNERS.items():
            self.send("PUT", f"/v1/sharing/{agency}", {"warrant_rules": rules, "retention": retention}, admin,
                      (200, ""), Counted(HOME, 0, "sharing.manage", "", "none", "", "allowed", ""))  # fmt: skip
        self.send("PUT", f"/v1/sharing/{HOME}", {"warrant_rules": "x", "retention": "y"}, admin, (400, "home_agency"),
                  Counted(HOME, 0, "sharing.manage", "", "none", "", "refused", "home_agency"))  # fmt: skip

        warrant = self.register(HOME, "warrant", plates=["XKC3041", "XRT5820"])
        order = self.register(HOME, "court_order", plates=["WPF7713"], cameras=["cam-n1", "cam-n2"])
        stolen = self.register(HOME, "stolen_vehicle", plates=["WPF7713"])
        emergency = self.register(HOME, "emergency", plates=["XEY9036"], cameras=["cam-s1"])
        self.register(HOME, "warrant", (400, "unknown_offence"), plates=["XKC3041"], offence="jaywalking")
        theirs = self.register("state-patrol", "warrant", plates=["XRT5820"])

        now = self.now

        def history(process_id: str, plates: list[str], start: int = now - 2 * HOUR) -> dict[str, Any]:
            return {"process_id": process_id, "plates": plates, "from": start, "to": now - HOUR}

        for _ in range(13):
            self.search("plate_history", history(warrant, ["XKC3041"]), "warrant")
        for _ in range(3):
            self.search("plate_history", history(order, ["WPF7713"]), "court_order")
        for _ in range(2):
            self.search("plate_history", history(stolen, ["WPF7713"]), "stolen_vehicle")
        self.search("plate_history", history(emergency, ["XEY9036"]), "emergency")
        for _ in range(2):
            self.search("plate_history", history(warrant, ["XKC3041"], now - 25 * DAY), "warrant",
                        (403, "outside_scope_time"))  # fmt: skip
        self.search("plate_history", history(warrant, ["XKC3041"]), "none", (401, "no_token"), token=None)
        self.search("plate_history", history("lp-ffffffffffff", ["XKC3041"]), "none", (403, "no_process"))
        scene = {"process_id": order, "cameras": ["cam-n1"], "from": now - 3 * HOUR, "to": now - 2 * HOUR}
        for _ in range(4):
            self.search("near_scene", scene, "court_order")
        self.search("near_scene", {**scene, "process_id": stolen}, "stolen_vehicle", (403, "process_kind_not_allowed"))
        for _ in range(2):
            self.search("hit_trail", {"process_id": warrant, "hit_id": hit_id}, "warrant", cameras=(hit_camera,))
        self.search("hit_trail", {"process_id": warrant, "hit_id": "hit-nowhere"}, "warrant", (404, "unknown_hit"))
        retro = {"process_id": warrant, "entry_id": "E-W1", "plate": "XKC3041", "from": now - DAY, "to": now - HOUR}
        self.search("retroactive_match", retro, "warrant")

        partner = {"agency": "state-patrol"}
        for _ in range(12):
            self.search("plate_history", history(theirs, ["XRT5820"]), "warrant", purpose="stolen vehicle recovery",
                        label="stolen vehicle recovery", **partner)  # fmt: skip
        for _ in range(2):
            self.search("plate_history", history(theirs, ["XRT5820"]), "warrant", purpose="case 24-118 follow-up",
                        label="case # follow-up", **partner)  # fmt: skip
        self.search("plate_history", history(theirs, ["XRT5820"]), "warrant", (403, "purpose_refused"),
                    purpose="immigration", label="immigration", **partner)  # fmt: skip
        self.search("plate_history", history(theirs, ["XRT5820"]), "warrant", (403, "purpose_required"), purpose="",
                    **partner)  # fmt: skip
        for _ in range(2):
            self.search("plate_history", history(theirs, ["XRT5820"]), "warrant", (403, "agency_not_shared"),
                        agency="far-pd", purpose="investigation", label="investigation")  # fmt: skip
