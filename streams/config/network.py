"""Listening addresses: which are loopback (the safe default that lets a service start without authentication in
tests), one rule for the API and the gateway."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal; a host name other than localhost is not trusted to be one."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
