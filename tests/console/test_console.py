"""The operator's hit console in real headless Chromium (Playwright), against the real API server (uvicorn in a
subprocess), the real broker and the real token issuer with its authorization endpoint (PKCE): sign-in, the live
queue, a possible misread that refuses a one-click confirm, a decision that leaves a second operator's queue and is
on the verifications topic and in the audit trail, the supervisor's overdue list, a user without a console role
refused, and no serious or critical axe-core violation."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from streams.config.secret_files import load_verifier
from tests.api.helpers import last_seq, publishing_env, records_since, start_api
from tests.console.helpers import (
    CLIENT_ID,
    artifact,
    console_env,
    hit_row,
    hits_table,
    publish_hits,
    sign_in,
    store_hits,
    topic_messages,
)
from tests.support.browser import launch
from tests.support.issuer import TokenIssuer

pytestmark = pytest.mark.integration
AGENCY = "metro-pd"  # the agency of the test entries (entry_agency on the hits topic), also the home agency


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def serious(page: Page) -> list[str]:
    """The serious and critical axe-core violations of the page as it is."""
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in bad]


def test_console_end_to_end(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, browser: Browser) -> None:
    issuer = TokenIssuer(tmp_path)
    issuer.add_public_client(CLIENT_ID)
    for user, roles in (("op1", ("operator",)), ("op2", ("operator",)), ("sup1", ("supervisor",)),
                        ("inv1", ("investigator",))):  # fmt: skip
        issuer.add_user(user, AGENCY, roles)
    now = int(time.time() * 1000)
    fresh = hit_row("hit-fresh", "7ABC123", "7ABC123", "exact", now)
    confusable = hit_row("hit-conf", "8ABC123", "BABC123", "confusable", now - 20_000)
    old = hit_row("hit-old", "5XYZ789", "5XYZ789", "exact", now - 900_000)  # past verify_within_seconds (300)
    with issuer.serve():
        env, public = publishing_env(tmp_path, issuer, kafka_bootstrap, topic_prefix)
        env.update(console_env(issuer))
        store_hits(tmp_path / "chdb", hits_table([fresh, confusable, old]))
        publish_hits(kafka_bootstrap, f"{topic_prefix}hits", hits_table([confusable, old]))
        api = start_api(env)
        try:
            seq = last_seq(api, issuer)
            op1 = sign_in(browser, api.url, "op1")
            expect(op1.locator("h1")).to_have_text(f"Unverified hits: {AGENCY}")
            expect(op1.locator('[data-hit="hit-conf"]')).to_be_visible(timeout=10_000)

            # A hit produced by a read arrives in the open queue within a second, without a reload.
            publish_hits(kafka_bootstrap, f"{topic_prefix}hits", hits_table([fresh]))
            sent = time.monotonic()
            op1.wait_for_selector('[data-hit="hit-fresh"]', timeout=1000)
            assert time.monotonic() - sent < 1.0
            rows = op1.locator(".queue > li").evaluate_all("els => els.map(e => e.dataset.hit)")
            assert rows == ["hit-fresh", "hit-conf", "hit-old"]  # newest capture first
            old_row = op1.locator('[data-hit="hit-old"]')
            expect(old_row.locator(".overdue-flag")).to_be_visible()
            expect(old_row).to_contain_text("OVERDUE")
            expect(op1.locator('[data-hit="hit-fresh"] .overdue-flag')).to_be_hidden()
            age = op1.locator('[data-hit="hit-fresh"] .age')
            first = age.inner_text()
            # Counts up once a second; a page behind another may have its timers slowed, so wait up to 5 s for it.
            expect(age).not_to_have_text(first, timeout=5000)
            assert serious(op1) == []
            artifact(op1, "queue")

            # Keyboard: j moves to a hit, Enter opens it.
            op1.keyboard.press("j")
            op1.keyboard.press("j")
            op1.keyboard.press("Enter")
            op1.wait_for_url("**/console/hits/hit-conf")
            expect(op1.locator("#misread-banner")).to_contain_text("Possible misread: verify every character")
            expect(op1.locator("#differences")).to_contain_text("position 1 differs")
            assert op1.locator(".ch.differs").count() == 2  # the read's and the entry's first character
            expect(op1.locator(".facts")).to_contain_text("NCIC record NIC-77")
            expect(op1.locator(".facts")).to_contain_text("look-alike characters")
            assert serious(op1) == []
            artifact(op1, "hit")

            # One click (with every check ticked) does not confirm a possible misread.
            op1.check('input[value="confirmed"]')
            for check in ("plate_matches_image", "region_matches_image", "entry_active"):
                op1.check(f'input[name="{check}"]')
            op1.click("#record-decision")
            expect(op1.locator("#decision-result")).to_contain_text("type the plate you see")
            op1.fill("#typed-plate", "8ABC123")  # what the read says, not the entry: still refused
            op1.click("#record-decision")
            expect(op1.locator("#decision-result")).to_contain_text("not the entry's plate")

            op2 = sign_in(browser, api.url, "op2")
            expect(op2.locator('[data-hit="hit-conf"]')).to_be_visible()

            op1.fill("#typed-plate", "babc 123")
            op1.click("#record-decision")
            expect(op1.locator("#decision-result")).to_contain_text("Recorded: confirmed")
            expect(op2.locator('[data-hit="hit-conf"]')).to_have_count(0, timeout=5000)  # left op2's queue
            expect(op2.locator('[data-hit="hit-fresh"]')).to_be_visible()

            # A later outcome on the confirmed hit.
            op1.select_option("#outcome-word", "vehicle_recovered")
            op1.click("#record-outcome")
            expect(op1.locator("#outcome-result")).to_contain_text("Recorded outcome: vehicle_recovered")

            # The supervisor sees the overdue hit; an operator may not open that view.
            sup = sign_in(browser, api.url, "sup1")
            sup.goto("/console/overdue")
            expect(sup.locator('tr[data-hit="hit-old"]')).to_be_visible()
            assert sup.locator('tr[data-hit="hit-fresh"]').count() == 0
            assert serious(sup) == []
            op2.goto("/console/overdue")
            expect(op2.locator("h1")).to_have_text("The overdue list is for supervisors.")

            # Without an operator or supervisor role: refused at sign-in, and on the page.
            inv = sign_in(browser, api.url, "inv1")
            expect(inv.locator("h1")).to_have_text("The console is for operators and supervisors.")
            assert inv.goto("/console").status == 401

            # The decision and the outcome, signed by op1, on the verifications topic.
            verifier = load_verifier(public)
            opened = [verifier.open(m) for m in topic_messages(kafka_bootstrap, f"{topic_prefix}verifications")]
            events = [(o.principal.subject, o.event) for o in opened if o.event["hit_id"] == "hit-conf"]
            assert [(sub, e.get("disposition"), e.get("outcome")) for sub, e in events] == [
                ("op1", "confirmed", None),
                ("op1", None, "vehicle_recovered"),
            ]
            assert all(c is True for c in events[0][1]["checks"].values())

            records = records_since(api, issuer, seq)
            decided = [r for r in records if r["action"] == "verify"]
            assert [(r["actor"], r["decision"], json.loads(r["detail"])["hit_id"]) for r in decided] == [
                ("op1@metro-pd", "allowed", "hit-conf")
            ]
            assert any(r["action"] == "outcomes.record" and r["decision"] == "allowed" for r in records)
            refusals = [r for r in records if r["actor"] == "inv1@metro-pd"]
            assert refusals and all(r["decision"] == "refused" for r in refusals)
            assert {r["rule"] for r in refusals} == {"console_role_required"}
            assert any(json.loads(r["detail"])["route"] == "/console" and r["actor"] == "op1@metro-pd" for r in records)
            # No plate text in any audit record, nor in the API's output.
            trail = json.dumps(records)
            for plate in ("7ABC123", "8ABC123", "BABC123", "5XYZ789"):
                assert plate not in trail
                assert plate not in api.output()
        finally:
            api.stop()


def test_a_decision_call_without_the_csrf_token_is_refused(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, browser: Browser
) -> None:
    """The session cookie alone does not authenticate a decision: the page's CSRF token must come with it."""
    issuer = TokenIssuer(tmp_path)
    issuer.add_public_client(CLIENT_ID)
    issuer.add_user("op1", AGENCY, ("operator",))
    with issuer.serve():
        env, _ = publishing_env(tmp_path, issuer, kafka_bootstrap, topic_prefix)
        env.update(console_env(issuer))
        api = start_api(env)
        try:
            page = sign_in(browser, api.url, "op1")
            expect(page.locator("h1")).to_have_text(f"Unverified hits: {AGENCY}")
            body = {"disposition": "misread"}
            answer = page.request.post("/v1/hits/hit-0001/verification", data=body)
            assert answer.status == 401 and answer.json()["rule"] == "no_token"
            csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
            answer = page.request.post("/v1/hits/hit-0001/verification", data=body, headers={"X-CSRF-Token": "x"})
            assert answer.status == 401
            answer = page.request.post("/v1/hits/hit-0001/verification", data=body, headers={"X-CSRF-Token": csrf})
            assert answer.status == 202, answer.text()
        finally:
            api.stop()
