"""The client's address: the peer's, or, when the peer is a trusted proxy (L2I_TRUSTED_PROXIES, default the local
host only), the address that proxy forwarded in X-Forwarded-For.

X-Forwarded-For is a list a client can start with anything it likes; each proxy appends the address it saw
(nginx: `$proxy_add_x_forwarded_for`). So it is read from the right: the first address that is not a trusted
proxy is the client. A forged entry on the left is never reached; a malformed entry stops the walk at the last
good hop.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip())


def _address(text: str):
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address, trusted: tuple[Network, ...]) -> bool:
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in trusted if network.version == address.version)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str | None:
    client = _address(peer or "")
    if client is None:
        return None
    if forwarded_for and _trusted(client, trusted):
        for hop in reversed(forwarded_for.split(",")):
            address = _address(hop)
            if address is None:
                break
            client = address
            if not _trusted(address, trusted):
                break
    return str(client)
