"""The console in an API process: made from the settings when its sign-in is configured, its feed started and
closed with the application."""

from __future__ import annotations

from streams.api.console.routes import Console
from streams.api.console.session import Sessions, console_configured
from streams.api.service import Service
from streams.config.hit_review import load_hit_review
from streams.config.secret_files import load_public_keys
from streams.config.settings import load_policy
from streams.core.signing import ControlVerifier
from streams.ingest.control import ControlGate
from streams.kafka.hits_feed import HitsFeed

__all__ = ["build_console"]


def build_console(service: Service) -> Console | None:
    """The console over ``service``, or None when the console's sign-in is not configured. Dispositions on the
    verifications topic count only when signed by this API's key or one in ``control_keys_file``."""
    settings = service.settings
    if not console_configured(settings):
        return None
    keys = load_public_keys(settings.control_keys_file, "control keys file") if settings.control_keys_file else []
    if service.signer is not None:
        keys.append(service.signer.private.public_key())
    gate = ControlGate(ControlVerifier(keys) if keys else None, service.access)
    return Console(
        feed=HitsFeed(settings, gate),
        sessions=Sessions(),
        review=load_hit_review(settings.hit_review_path),
        low_confidence=load_policy(settings.policy_path).low_confidence,
        home_agency=service.search_policy.home_agency,
    )
