"""The ingest gateway (`platestream gateway serve`): cameras that speak HTTP, into ``reads.json``.

``app`` (the FastAPI application and ``serve``), ``formats`` (agent and webhook bodies into the workers' JSON
events, images stripped), ``tokens`` (per-camera token hashes), ``publisher`` (answers only after the broker
confirms). See docs/cameras.md.
"""

from streams.gateway.app import DEAD_LETTER_SOURCE, check_authentication, create_app, serve
from streams.gateway.formats import Event, Refusal, openalpr_events, platerecognizer_events
from streams.gateway.publisher import BrokerUnavailable, Message, Publisher
from streams.gateway.tokens import CameraTokens, hash_token, new_token, token_line

__all__ = [
    "DEAD_LETTER_SOURCE",
    "BrokerUnavailable",
    "CameraTokens",
    "Event",
    "Message",
    "Publisher",
    "Refusal",
    "check_authentication",
    "create_app",
    "hash_token",
    "new_token",
    "openalpr_events",
    "platerecognizer_events",
    "serve",
    "token_line",
]
