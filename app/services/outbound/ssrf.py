"""The SSRF guard: which URLs and addresses outbound webhooks may go to.

A seller types the URL, so it is checked when saved and again, with a fresh DNS lookup, before
every delivery (DNS may change in between); the request then connects to an address checked
here. Refused always: cloud metadata and link-local addresses, also behind IPv6 forms that
embed an IPv4 address. Refused unless WEBHOOKS_ALLOW_PRIVATE_NETWORKS (development, tests):
loopback, private, multicast, reserved and other non-public addresses. Production requires
https (WEBHOOKS_REQUIRE_HTTPS).
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from app.errors import ServiceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, Oracle); the
# rest of 169.254.0.0/16 and fe80::/10 is refused as link-local.
METADATA_ADDRESSES = {
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
}
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrl(ServiceError):
    """A URL we refuse to send to (bad scheme, unresolvable, or a non-public address): 422."""

    def __init__(self, message: str):
        super().__init__(422, "unsafe_url", message, field="url")


def allow_private_networks() -> bool:
    """Whether loopback and private addresses may receive webhooks (development and tests)."""
    return bool(current_app.config.get("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", False))


def require_https() -> bool:
    """Whether endpoints must be https:// (default: in production)."""
    default = current_app.config.get("ENV_NAME") == "production"
    return bool(current_app.config.get("WEBHOOKS_REQUIRE_HTTPS", default))


def forbidden_reason(address: str, allow_private: bool = False) -> str | None:
    """Why `address` may not receive webhooks, or None for a public unicast address.

    Link-local and cloud metadata addresses are refused always, also when `allow_private`
    (WEBHOOKS_ALLOW_PRIVATE_NETWORKS, for development) lets loopback and private ones through;
    so are IPv6 forms that embed such an IPv4 address (mapped, NAT64, 6to4, Teredo).
    """
    ip = ipaddress.ip_address(address)
    for candidate in (ip, *_embedded_ipv4(ip)):
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if candidate.is_link_local:
            return "a link-local address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if allow_private:
        return None
    for label, flag in (
        ("a loopback", ip.is_loopback),
        ("a private", ip.is_private),
        ("a multicast", ip.is_multicast),
        ("a reserved", ip.is_reserved),
        ("an unspecified", ip.is_unspecified),
    ):
        if flag:
            return f"{label} address"
    if not ip.is_global:
        return "a non-public address"
    return None


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (and may be routed to)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    if ip in NAT64_PREFIX:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in found if address is not None]


@dataclass(frozen=True)
class UrlPolicy:
    """The app's settings the guard applies, read once so threads without an app context (the
    delivery pool) can vet URLs too."""

    allow_private: bool
    https_only: bool


def current_policy() -> UrlPolicy:
    """The guard's settings of the current app."""
    return UrlPolicy(allow_private=allow_private_networks(), https_only=require_https())


def resolve_url(url: str, policy: UrlPolicy | None = None) -> list[str]:
    """Check `url`'s scheme and resolve its host: the addresses it may be delivered to.

    Raises UnsafeUrl unless every resolved address is public (or private networks are allowed
    by WEBHOOKS_ALLOW_PRIVATE_NETWORKS, for development and tests: link-local and metadata
    addresses never are). `policy` defaults to the current app's settings.
    """
    policy = policy or current_policy()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("Use a full http:// or https:// URL.")
    if policy.https_only and parts.scheme != "https":
        raise UnsafeUrl("Use an https:// URL.")
    if parts.username or parts.password:
        raise UnsafeUrl("Leave credentials out of the URL; verify our signature instead.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise UnsafeUrl(f"We could not resolve {parts.hostname}.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        reason = forbidden_reason(address, policy.allow_private)
        if reason:
            raise UnsafeUrl(
                f"{parts.hostname} resolves to {address}, {reason}; webhooks go only to public internet addresses."
            )
    return addresses
