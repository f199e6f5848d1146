"""Guard for outgoing webhook requests against server-side request forgery (SSRF).

A webhook URL is user input: whoever subscribes chooses where our servers send a POST. Without a guard that
is a way to reach what only our network can reach: the cloud metadata service (credentials), databases and
admin panels on private addresses, the loopback interface of the worker itself.

The check therefore runs twice:

* at subscribe time (`check_url`), so the user hears at once why an address is refused;
* at send time (`safe_post`), after resolution, on the very addresses the connection then uses. A name that
  resolved to a public address when it was checked may resolve to 10.0.0.5 a minute later (DNS rebinding),
  so the connection is pinned to the checked IP rather than handing the name to a library that resolves it
  again. Every redirect target is parsed, resolved and checked by the same rules before it is contacted.

Callers see two kinds of failure: `UnsafeURL` (a `ValueError`: the target is refused and retrying will not
help until the subscriber changes it) and `OSError` (timeouts, refused connections, TLS failures, garbled
responses: worth retrying later).

Only the standard library is used: `requests` honours HTTP(S)_PROXY from the environment and resolves names
itself, and either would silently undo the pinning.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_RESPONSE_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# Metadata services hand out cloud credentials to whoever asks from inside the instance. The rules below
# already cover them (link-local, private, CGNAT); they are named so that the message says what they are.
_METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, DigitalOcean, OpenStack
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
# Shared address space between a carrier and its customers: not on the public internet, and Python's
# is_private does not include it.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# Well-known NAT64 prefix: the gateway forwards to the IPv4 address in the low 32 bits, which is what counts.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """A webhook target that is malformed or points somewhere webhooks must not go. The message is meant
    for the subscriber: it says what is wrong in plain words."""


class Unresolvable(UnsafeURL):
    """The name does not resolve now. At subscribe time that is the subscriber's typo; at send time it may be
    a passing DNS failure, so the sender retries it rather than giving up."""


class _Target(NamedTuple):
    scheme: str
    host: str
    port: int
    request_target: str


def _parse(url: str) -> _Target:
    """Check the syntax of a webhook URL and split it; does no network I/O."""
    if not url or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise UnsafeURL("This is not a valid URL: it is empty or contains spaces or control characters.")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UnsafeURL(f"This is not a valid URL ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise UnsafeURL(f"Webhook URLs must start with http:// or https:// (got {shown}).")
    # Credentials in the URL would travel to whichever host a redirect names, and "user@host" is a classic
    # way to make a URL look like it goes somewhere it does not.
    if "@" in parts.netloc:
        raise UnsafeURL("Webhook URLs cannot carry a user name or password (user:pass@host).")
    host = parts.hostname
    if not host:
        raise UnsafeURL("This URL has no host name; a webhook needs one, e.g. https://example.com/hook.")
    try:
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL("The port must be a number from 1 to 65535.") from exc
    if port is not None:
        # int() would also accept "+80" or non-ASCII digits, which other parsers read differently.
        raw_port = parts.netloc.rpartition(":")[2]
        if not (raw_port.isascii() and raw_port.isdigit()) or not 1 <= port <= 65535:
            raise UnsafeURL("The port must be a number from 1 to 65535.")
    else:
        port = 443 if scheme == "https" else 80
    request_target = parts.path or "/"
    if parts.query:
        request_target += "?" + parts.query
    return _Target(scheme, host, port, request_target)


def _refusal(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why `ip` must not be contacted, phrased to follow "This address points ..."; None if it may be."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address are delivered to that IPv4 address (by the kernel, a 6to4
        # relay or a NAT64 gateway), so they are judged by it; otherwise ::ffff:10.0.0.1 would slip through.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return _refusal(embedded, allow_loopback=allow_loopback)
    if ip in _METADATA_ADDRESSES:
        return "to a cloud metadata service"
    if ip.is_loopback:
        # Checked before the broad rules below, which also match loopback (::1 is "reserved" to Python).
        return None if allow_loopback else "to this server itself"
    if ip.is_unspecified:
        return "to no host in particular (the unspecified address), which reaches this server"
    if ip.is_link_local:
        return "into a link-local network"
    if ip in _CGNAT:
        return "into a carrier-grade NAT network"
    if ip.is_multicast:
        return "to a multicast group"
    if ip.is_reserved:
        # Before is_private, which Python also sets for 240.0.0.0/4: "private" would mislead there.
        return "into a reserved address range"
    if ip.is_private:
        return "into a private network"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        # fec0::/10 is deprecated but still routed by some networks, and Python calls it global.
        return "into a site-local network"
    if not ip.is_global:
        # Documentation, benchmarking and protocol ranges: nothing a webhook receiver legitimately lives in.
        return "into an address range that is not on the public internet"
    return None


def is_unsafe_ip(ip: IPAddress, *, allow_loopback: bool) -> bool:
    """True if a webhook must not connect to `ip`. `allow_loopback` lets tests and local development talk
    to 127.0.0.1/::1; it never opens any other range."""
    return _refusal(ip, allow_loopback=allow_loopback) is not None


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve_safe(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """Resolve `host` and return all its addresses (deduplicated, in resolver order), refusing the host if
    any one of them is unsafe: a name with one public and one private address would otherwise reach the
    private one whenever the resolver or a retry happens to pick it. Connect to the returned addresses, never
    to the name, so that a second lookup cannot answer differently."""
    # "localhost." is the same name as "localhost" (fully qualified); without the dot the resolver also
    # consults /etc/hosts, so the answer and the message are the ones the plain name gets.
    lookup = host[:-1] if host.endswith(".") and not host.endswith("..") else host
    try:
        infos = socket.getaddrinfo(lookup, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        # UnicodeError: an internationalised name that IDNA cannot encode (e.g. an over-long label).
        raise Unresolvable(f"The host {host} does not resolve to any address; check the spelling.") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unresolvable(f"The host {host} does not resolve to any address; check the spelling.")
    subject = "This address" if _is_ip_literal(lookup) else host
    for address in addresses:
        # A scoped IPv6 address ("fe80::1%eth0") names its interface after the %; the address is before it.
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        reason = _refusal(ip, allow_loopback=allow_loopback)
        if reason is not None:
            raise UnsafeURL(
                f"{subject} points {reason} ({address}); webhooks must reach the public internet."
            )
    return addresses


def check_url(url: str, *, allow_loopback: bool = False) -> None:
    """Validate a webhook URL when it is subscribed: syntax first (no network I/O for a malformed URL), then
    every address its host resolves to. Raises UnsafeURL with a message for the subscriber.

    Passing here does not make the URL safe forever: DNS can change, so `safe_post` checks again."""
    target = _parse(url)
    resolve_safe(target.host, target.port, allow_loopback=allow_loopback)


def _connect_any(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """Connect to the first address that answers. Each is an IP literal, so create_connection does no DNS."""
    last_error: OSError = ConnectionError("no address to connect to")
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            last_error = exc
            continue
        # http.client writes the headers and the body separately; with Nagle's algorithm the body would
        # wait for the server's delayed ACK of the headers (40 ms on a reused keep-alive connection).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last_error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTPConnection that keeps the name for the Host header but connects to already-checked addresses."""

    def __init__(self, host: str, port: int, *, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self) -> None:
        # The socket timeout set here also bounds every later recv(), i.e. each read of the response.
        self.sock = _connect_any(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    default_port = 443  # so that the Host header omits :443, as for any HTTPS client

    def connect(self) -> None:
        sock = _connect_any(self._addresses, self.port, self.timeout)
        # Certificate and SNI are checked against the name from the URL, not the IP we connected to: the
        # pinning must not weaken TLS. A fresh context per connection picks up SSL_CERT_FILE changes.
        context = ssl.create_default_context()
        try:
            self.sock = context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


class ConnectionPool:
    """Keep-alive connections for one run of sends (a chunk of deliveries): many subscribers post to the
    same host (hooks.slack.com, one company's receiver), and a new TCP and TLS handshake for each costs
    both sides. A connection is reused only for the same scheme, name, port and the same set of addresses
    that were just resolved and checked again, and only if it was idle for less than IDLE seconds (well
    under any server's keep-alive timeout, so a reused connection is not one the server has dropped). A
    failure on a reused connection is not retried here: the delivery's own retry handles it."""

    IDLE = 2.0

    def __init__(self) -> None:
        self._idle: dict[tuple, tuple[http.client.HTTPConnection, float]] = {}

    def take(self, key: tuple) -> http.client.HTTPConnection | None:
        item = self._idle.pop(key, None)
        if item is None:
            return None
        connection, since = item
        if time.monotonic() - since < self.IDLE and connection.sock is not None:
            return connection
        connection.close()
        return None

    def give(self, key: tuple, connection: http.client.HTTPConnection) -> None:
        previous = self._idle.pop(key, None)
        if previous is not None:
            previous[0].close()
        self._idle[key] = (connection, time.monotonic())

    def close(self) -> None:
        for connection, _ in self._idle.values():
            connection.close()
        self._idle.clear()


def _post_once(
    target: _Target,
    addresses: list[str],
    data: bytes,
    headers: dict[str, str],
    timeout: float,
    pool: ConnectionPool | None = None,
) -> tuple[int, str | None, bytes]:
    key = (target.scheme, target.host, target.port, tuple(addresses))
    connection = pool.take(key) if pool is not None else None
    if connection is None:
        connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
        connection = connection_class(target.host, target.port, addresses=addresses, timeout=timeout)
    reusable = False
    try:
        connection.request("POST", target.request_target, body=data, headers=headers)
        response = connection.getresponse()
        # A receiver may answer with anything, of any size; only the start is worth keeping for the log.
        body = response.read(MAX_RESPONSE_BYTES)
        # Reusable only if the server keeps the connection open and the whole answer has been read.
        reusable = pool is not None and not response.will_close and response.isclosed()
        return response.status, response.getheader("Location"), body
    except http.client.HTTPException as exc:
        # A garbled response (bad status line, over-long header, truncated body) is a network failure to
        # the caller, like a reset connection: worth retrying, not a reason to distrust the URL.
        raise ConnectionError(f"{target.host} sent a malformed HTTP response: {exc!r}") from exc
    finally:
        if reusable:
            pool.give(key, connection)
        else:
            connection.close()


def safe_post(
    url: str,
    *,
    data: bytes,
    headers: dict[str, str],
    timeout: float = 10.0,
    allow_loopback: bool = False,
    max_redirects: int = 3,
    pool: ConnectionPool | None = None,
) -> tuple[int, bytes]:
    """POST `data` to `url`, connecting only to addresses that pass `is_unsafe_ip`, and return the status
    code and the first 64 KiB of the response body.

    Redirects (301, 302, 303, 307, 308) are followed up to `max_redirects` times, each target checked like
    the original. A chain longer than that raises UnsafeURL (a loop does not fix itself, so retrying would
    not help); a redirect without a Location header is returned as it is. Network errors propagate as
    OSError (TimeoutError, ConnectionError, ssl.SSLError); `timeout` bounds the connect and each read."""
    if max_redirects < 0:
        raise ValueError("max_redirects must not be negative")
    current = url
    redirects = 0
    while True:
        try:
            target = _parse(current)
            addresses = resolve_safe(target.host, target.port, allow_loopback=allow_loopback)
        except UnsafeURL as exc:
            if redirects == 0:
                raise
            raise UnsafeURL(f"The webhook redirected to {current}, which is refused: {exc}") from exc
        status, location, body = _post_once(target, addresses, data, headers, timeout, pool)
        if status not in REDIRECT_STATUSES or not location:
            return status, body
        if redirects >= max_redirects:
            raise UnsafeURL(
                f"The webhook redirected more than {max_redirects} times (last to {location}); "
                "point the subscription at the final address."
            )
        redirects += 1
        # Browsers turn a POST into a GET on 301/302/303, but a webhook receiver only understands the POST
        # with its body; a GET would be a silent loss of the event. So every redirect re-sends the same POST,
        # with the same headers (the signature covers the body, which does not change).
        current = urljoin(current, location)
