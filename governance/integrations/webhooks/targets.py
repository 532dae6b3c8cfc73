"""Which receiver URLs we are willing to call.

Outside development only https. A host that resolves to a private, loopback, link-local,
multicast, reserved or unspecified address is refused (the service would otherwise be a way to
reach the bank's internal network: server-side request forgery) unless the host, or a network
containing the address, is listed in ``WEBHOOKS_ALLOWED_PRIVATE_HOSTS``. The check runs when a
subscription is saved and again before every attempt (DNS may change in between).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class TargetRefused(ValueError):
    """The URL may not be called; the message says why and what to do."""


def _allowed_entries() -> tuple[set[str], list]:
    hosts: set[str] = set()
    networks = []
    for entry in settings.WEBHOOKS_ALLOWED_PRIVATE_HOSTS:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            hosts.add(entry)
    return hosts, networks


def _is_public(address) -> bool:
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"the host {host!r} does not resolve ({exc}); check the name") from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])  # (host, port, ...) for IPv4 and IPv6
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        addresses.append(address)
    return addresses


def check_url(url: str) -> str:
    """The URL, checked (scheme, host, addresses); raises TargetRefused with the reason."""
    url = (url or "").strip()
    if not url:
        raise TargetRefused("a receiver URL is required")
    if len(url) > 2000:
        raise TargetRefused("the URL is longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with https://")
    if scheme == "http" and not settings.WEBHOOKS_ALLOW_HTTP:
        raise TargetRefused("only https:// receivers are allowed outside development (WEBHOOKS_ALLOW_HTTP is off)")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are refused: the receiver authenticates us by the signature")
    if parts.fragment:
        raise TargetRefused("the URL must not have a #fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise TargetRefused("the URL has no host")
    allowed_hosts, allowed_networks = _allowed_entries()
    if host in allowed_hosts:
        return url
    for address in resolve(host, port or (443 if scheme == "https" else 80)):
        if _is_public(address) or any(address in network for network in allowed_networks):
            continue
        raise TargetRefused(
            f"{host} resolves to {address}, a private, loopback or link-local address; receivers must be "
            "reachable public hosts (an operator may allow an internal host with WEBHOOKS_ALLOWED_PRIVATE_HOSTS)"
        )
    return url
