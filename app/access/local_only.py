"""Local-only mode: before a first API key exists, the service serves this machine only.

A caller on this machine (the TCP peer is loopback, no proxy forwarded the request, and it
is addressed to localhost) acts as the one local owner, with every scope; anyone else is
refused with the way out: create a key, or set AUTH_REQUIRED=true.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# A proxy in front of the service means the network is behind it: local-only mode refuses.
FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
LOCAL_ONLY_HINT = ("no API key exists yet: create one with `chatbot keys create --owner NAME --scopes admin` "
                   "(or give CHATBOT_BOOTSTRAP_KEY), or set AUTH_REQUIRED=true, to open the service to a network")


def is_loopback(host: str | None) -> bool:
    """Whether an address (or bind host) is this machine only: 127/8, ::1, `localhost`."""
    if not host:
        return False
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def local_only_refusal(peer_host: str | None, host_header: str | None, header_names: set[str]) -> str | None:
    """Why a caller may not be the local owner in local-only mode (None: it may).

    Only the TCP peer counts (never a forwarded header), and the Host header must name
    this machine too, so a web page that rebinds its DNS name to 127.0.0.1 is refused.
    """
    if not is_loopback(peer_host):
        return "local-only mode serves clients on this machine only"
    if forwarded := sorted(header_names & set(FORWARDING_HEADERS)):
        return f"local-only mode refuses proxied requests ({', '.join(forwarded)} is set)"
    try:
        name = urlsplit(f"//{host_header or ''}").hostname
    except ValueError:
        name = None
    if not is_loopback(name):
        return "local-only mode answers only requests addressed to localhost"
    return None
