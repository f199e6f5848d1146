"""The SSRF guard for webhooks, against real servers on 127.0.0.1. Nothing here reaches the internet: public
addresses are only judged (is_unsafe_ip) or come from a stub resolver, never connected to."""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from subscribers.netguard import UnsafeURL, check_url, is_unsafe_ip, resolve_safe, safe_post

BODY = b'{"event": "incident.created"}'
HEADERS = {"Content-Type": "application/json", "X-Statuspage-Signature": "sha256=abc123"}


@dataclass
class Recorded:
    path: str
    headers: Message
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    """/redirect?to=<url>[&status=302] answers with a redirect, /loop redirects to itself, /big answers with
    100 KiB, /status?code=<n> answers <n> with no Location; anything else answers 200 "ok"."""

    server: _RecordingServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append(Recorded(self.path, self.headers, body))
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/redirect":
            self._answer(int(query.get("status", "302")), location=query["to"])
        elif parts.path == "/loop":
            self._answer(302, location="/loop")
        elif parts.path == "/big":
            self._answer(200, b"x" * 100 * 1024)
        elif parts.path == "/status":
            self._answer(int(query["code"]), b"answered")
        else:
            self._answer(200, b"ok")

    def _answer(self, status: int, body: bytes = b"", location: str | None = None) -> None:
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _RecordingServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[Recorded] = []
        self.sni: list[str | None] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def _serve(server: _RecordingServer) -> Iterator[_RecordingServer]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[_RecordingServer]:
    yield from _serve(_RecordingServer())


@dataclass
class StubDNS:
    """Answers for made-up names under .test; each lookup takes the next answer, the last one repeating."""

    zones: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> StubDNS:
    stub = StubDNS()
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in stub.zones:
            return real_getaddrinfo(host, port, family, type, proto, flags)
        stub.lookups.append(host)
        answers = stub.zones[host]
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return stub


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(*args, **kwargs):
        raise AssertionError(f"a malformed URL must be refused before any lookup: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# Syntax, at subscribe time


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "must start with http:// or https://"),
        ("javascript:alert(1)", "must start with http:// or https://"),
        ("example.com/hook", "must start with http:// or https://"),
        ("http:///hook", "no host name"),
        ("https://", "no host name"),
        ("https://user:secret@example.com/hook", "user name or password"),
        ("https://user@example.com/hook", "user name or password"),
        ("https://trusted.example@10.0.0.5/", "user name or password"),
        ("http://example.com:0/", "port must be a number from 1 to 65535"),
        ("http://example.com:65536/", "port must be a number from 1 to 65535"),
        ("http://example.com:http/", "port must be a number from 1 to 65535"),
        ("http://example.com:+80/", "port must be a number from 1 to 65535"),
        ("http://[::1/", "not a valid URL"),
        ("http://exa mple.com/", "not a valid URL"),
        ("http://example.com/\r\nX-Injected: 1", "not a valid URL"),
        ("", "not a valid URL"),
    ],
)
@pytest.mark.usefixtures("no_dns")
def test_malformed_urls_are_refused_without_a_lookup(url: str, message: str) -> None:
    with pytest.raises(UnsafeURL, match=message.replace("+", r"\+")):
        check_url(url)


def test_unsafe_url_is_a_value_error() -> None:
    assert issubclass(UnsafeURL, ValueError)


# Addresses


def test_loopback_is_refused_unless_allowed(server: _RecordingServer) -> None:
    with pytest.raises(UnsafeURL, match=r"This address points to this server itself \(127\.0\.0\.1\)"):
        check_url(server.url("/hook"))
    check_url(server.url("/hook"), allow_loopback=True)


def test_localhost_is_refused() -> None:
    with pytest.raises(UnsafeURL, match=r"localhost points to this server itself .*public internet"):
        check_url("http://localhost/")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.5/", r"into a private network \(10\.0\.0\.5\)"),
        ("http://172.16.0.1/", "into a private network"),
        ("https://192.168.1.1:8443/", "into a private network"),
        ("http://[fc00::1]/", "into a private network"),
        ("http://169.254.169.254/latest/meta-data", "to a cloud metadata service"),
        ("http://[fd00:ec2::254]/", "to a cloud metadata service"),
        ("http://100.100.100.200/", "to a cloud metadata service"),
        ("http://169.254.1.1/", "into a link-local network"),
        ("http://[fe80::1]/", "into a link-local network"),
        ("http://100.64.1.1/", "into a carrier-grade NAT network"),
        ("http://[::ffff:10.0.0.1]/", r"into a private network \(::ffff:10\.0\.0\.1\)"),
        ("http://[::ffff:169.254.169.254]/", "to a cloud metadata service"),
        ("http://[64:ff9b::a00:1]/", "into a private network"),  # NAT64 of 10.0.0.1
        ("http://[2002:a00:1::1]/", "into a private network"),  # 6to4 of 10.0.0.1
        ("http://0.0.0.0/", "unspecified address"),
        ("http://[::]/", "unspecified address"),
        ("http://[::1]/", "to this server itself"),
        ("http://[::ffff:127.0.0.1]/", "to this server itself"),
        ("http://127.8.9.10/", "to this server itself"),
        ("http://2130706433/", "to this server itself"),  # 127.0.0.1 as one decimal number
        ("http://0x7f.1/", "to this server itself"),  # and in inet_aton's shorthand
        ("http://224.0.0.1/", "to a multicast group"),
        ("http://240.0.0.1/", "into a reserved address range"),
        ("http://255.255.255.255/", "into a reserved address range"),
        ("http://[fec0::1]/", "into a site-local network"),
        ("http://192.0.2.1/", "public internet"),  # documentation range
    ],
)
def test_non_public_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=reason) as refused:
        check_url(url)
    assert "webhooks must reach the public internet" in str(refused.value)


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5/", "http://169.254.169.254/", "http://[::ffff:10.0.0.1]/", "http://0.0.0.0/"]
)
def test_allow_loopback_opens_nothing_but_loopback(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url, allow_loopback=True)


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:93.184.216.34",  # IPv4-mapped, judged by its IPv4 address
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    ],
)
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_public_addresses_are_safe(address: str, allow_loopback: bool) -> None:
    assert not is_unsafe_ip(ipaddress.ip_address(address), allow_loopback=allow_loopback)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "169.254.169.254",
        "100.100.100.200",
        "fd00:ec2::254",
        "100.64.0.1",
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "fe80::1",
        "::ffff:192.168.0.1",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:c0a8:1::1",  # 6to4 of 192.168.0.1
    ],
)
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_internal_addresses_are_unsafe(address: str, allow_loopback: bool) -> None:
    assert is_unsafe_ip(ipaddress.ip_address(address), allow_loopback=allow_loopback)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_loopback_addresses_depend_on_allow_loopback(address: str) -> None:
    assert is_unsafe_ip(ipaddress.ip_address(address), allow_loopback=False)
    assert not is_unsafe_ip(ipaddress.ip_address(address), allow_loopback=True)


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(UnsafeURL, match=r"nonexistent\.invalid does not resolve"):
        check_url("http://nonexistent.invalid/")
    with pytest.raises(UnsafeURL, match="does not resolve"):
        safe_post("http://nonexistent.invalid/", data=BODY, headers=HEADERS)


def test_name_with_only_public_addresses_passes(dns: StubDNS) -> None:
    dns.zones["hooks.example.test"] = [["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]]
    check_url("https://hooks.example.test/statuspage")
    assert resolve_safe("hooks.example.test", 443, allow_loopback=False) == [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
    ]


def test_name_with_any_private_address_is_refused(dns: StubDNS) -> None:
    dns.zones["mixed.test"] = [["93.184.216.34", "10.0.0.5"]]
    with pytest.raises(UnsafeURL, match=r"mixed\.test points into a private network \(10\.0\.0\.5\)"):
        check_url("https://mixed.test/")


# Sending


def test_safe_post_delivers_body_and_headers(server: _RecordingServer) -> None:
    status, body = safe_post(server.url("/hook?page=acme"), data=BODY, headers=HEADERS, allow_loopback=True)

    assert (status, body) == (200, b"ok")
    [request] = server.requests
    assert request.path == "/hook?page=acme"
    assert request.body == BODY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Statuspage-Signature"] == "sha256=abc123"
    assert request.headers["Content-Length"] == str(len(BODY))
    assert request.headers["Host"] == f"127.0.0.1:{server.port}"


def test_safe_post_sends_the_name_as_host_header(server: _RecordingServer) -> None:
    safe_post(server.url("/hook", host="localhost"), data=BODY, headers=HEADERS, allow_loopback=True)

    assert server.requests[0].headers["Host"] == f"localhost:{server.port}"


def test_safe_post_refuses_loopback_unless_allowed(server: _RecordingServer) -> None:
    with pytest.raises(UnsafeURL, match="this server itself"):
        safe_post(server.url("/hook"), data=BODY, headers=HEADERS)
    assert server.requests == []


def test_send_connects_to_the_checked_address_without_a_second_lookup(
    server: _RecordingServer, dns: StubDNS
) -> None:
    # DNS rebinding: the first answer passes the check, the next points inside. Only one lookup may happen.
    dns.zones["rebinding.test"] = [["127.0.0.1"], ["10.0.0.1"]]

    status, _ = safe_post(
        server.url("/hook", host="rebinding.test"), data=BODY, headers=HEADERS, allow_loopback=True, timeout=2
    )

    assert status == 200
    assert dns.lookups == ["rebinding.test"]
    assert server.requests[0].headers["Host"] == f"rebinding.test:{server.port}"


def test_send_checks_again_after_the_subscribe_time_check(server: _RecordingServer, dns: StubDNS) -> None:
    dns.zones["rebinding.test"] = [["127.0.0.1"], ["10.0.0.1"]]
    url = server.url("/hook", host="rebinding.test")
    check_url(url, allow_loopback=True)

    with pytest.raises(UnsafeURL, match=r"rebinding\.test points into a private network \(10\.0\.0\.1\)"):
        safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True)
    assert server.requests == []


def test_send_tries_the_next_checked_address_when_one_refuses(server: _RecordingServer, dns: StubDNS) -> None:
    # The server listens on 127.0.0.1 only, so 127.0.0.3 refuses; the connection falls through to 127.0.0.1.
    dns.zones["two.test"] = [["127.0.0.3", "127.0.0.1"]]

    url = server.url("/hook", host="two.test")
    status, _ = safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True)

    assert status == 200


@pytest.mark.parametrize("code", [201, 404, 500])
def test_status_and_body_are_returned_as_answered(server: _RecordingServer, code: int) -> None:
    url = server.url(f"/status?code={code}")
    assert safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True) == (code, b"answered")


def test_redirect_without_location_is_returned_as_answered(server: _RecordingServer) -> None:
    url = server.url("/status?code=302")
    assert safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True) == (302, b"answered")
    assert len(server.requests) == 1


def test_response_body_is_cut_at_64_kib(server: _RecordingServer) -> None:
    status, body = safe_post(server.url("/big"), data=BODY, headers=HEADERS, allow_loopback=True)
    assert status == 200
    assert body == b"x" * 65536


# Redirects


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_is_followed_with_the_same_post(server: _RecordingServer, code: int) -> None:
    final = server.url("/final")
    url = server.url(f"/redirect?status={code}&to={quote(final, safe='')}")

    assert safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True) == (200, b"ok")

    first, second = server.requests
    assert second.path == "/final"
    assert first.body == second.body == BODY
    assert second.headers["X-Statuspage-Signature"] == "sha256=abc123"


def test_relative_redirect_is_followed(server: _RecordingServer) -> None:
    url = server.url(f"/redirect?to={quote('/final?x=1', safe='')}")

    assert safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True) == (200, b"ok")
    assert [r.path for r in server.requests][1:] == ["/final?x=1"]


@pytest.mark.parametrize(
    "target",
    ["http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::ffff:10.0.0.1]/"],
)
def test_redirect_to_a_private_address_is_refused_even_with_allow_loopback(
    server: _RecordingServer, target: str
) -> None:
    url = server.url(f"/redirect?to={quote(target, safe='')}")

    with pytest.raises(UnsafeURL, match=re.escape(f"redirected to {target}, which is refused")):
        safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True, timeout=2)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "http://u:p@x.test/"]
)
def test_redirect_to_a_malformed_target_is_refused(server: _RecordingServer, target: str) -> None:
    url = server.url(f"/redirect?to={quote(target, safe='')}")

    with pytest.raises(UnsafeURL, match="which is refused"):
        safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True)


def test_redirect_loop_stops_after_max_redirects(server: _RecordingServer) -> None:
    # A loop never resolves itself, so it is refused like a bad address rather than retried.
    with pytest.raises(UnsafeURL, match="redirected more than 3 times"):
        safe_post(server.url("/loop"), data=BODY, headers=HEADERS, allow_loopback=True, max_redirects=3)
    assert len(server.requests) == 4  # the original request and three redirects


def test_no_redirect_is_followed_with_max_redirects_zero(server: _RecordingServer) -> None:
    with pytest.raises(UnsafeURL, match="redirected more than 0 times"):
        safe_post(server.url("/loop"), data=BODY, headers=HEADERS, allow_loopback=True, max_redirects=0)
    assert len(server.requests) == 1


# Network errors


def test_server_that_never_answers_times_out() -> None:
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def accept_and_say_nothing() -> None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                stop.wait(5)

        thread = threading.Thread(target=accept_and_say_nothing, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        started = time.monotonic()
        try:
            with pytest.raises(TimeoutError):
                safe_post(url, data=BODY, headers=HEADERS, timeout=0.5, allow_loopback=True)
        finally:
            stop.set()
            thread.join(timeout=6)
    assert time.monotonic() - started < 3


def test_refused_connection_propagates_as_oserror() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        safe_post(f"http://127.0.0.1:{port}/", data=BODY, headers=HEADERS, timeout=2, allow_loopback=True)


def test_garbled_response_is_a_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def answer_nonsense() -> None:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"SMTP READY\r\n\r\n")

        thread = threading.Thread(target=answer_nonsense, daemon=True)
        thread.start()
        try:
            with pytest.raises(ConnectionError, match="malformed HTTP response"):
                safe_post(
                    f"http://127.0.0.1:{listener.getsockname()[1]}/",
                    data=BODY,
                    headers=HEADERS,
                    timeout=2,
                    allow_loopback=True,
                )
        finally:
            thread.join(timeout=6)


# HTTPS: the connection goes to the pinned IP, but TLS is checked against the name in the URL


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for "localhost" (and nothing else), made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[_RecordingServer]:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _RecordingServer()
    context.sni_callback = lambda _socket, name, _context: server.sni.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _serve(server)


def test_https_verifies_against_the_url_name_and_sends_sni(
    tls_server: _RecordingServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))

    url = tls_server.url("/hook", host="localhost", scheme="https")
    assert safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True, timeout=5) == (200, b"ok")

    [request] = tls_server.requests
    assert request.body == BODY
    assert request.headers["Host"] == f"localhost:{tls_server.port}"
    assert tls_server.sni == ["localhost"]


def test_https_refuses_a_certificate_for_another_name(
    tls_server: _RecordingServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))

    # Same server, same address, but the URL names 127.0.0.1, which the certificate does not cover.
    with pytest.raises(ssl.SSLCertVerificationError):
        safe_post(tls_server.url("/hook", scheme="https"), data=BODY, headers=HEADERS, allow_loopback=True)
    assert tls_server.requests == []


def test_https_refuses_an_untrusted_certificate(
    tls_server: _RecordingServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty_bundle = tmp_path / "empty.pem"
    empty_bundle.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty_bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))

    url = tls_server.url("/hook", host="localhost", scheme="https")
    with pytest.raises(ssl.SSLCertVerificationError):
        safe_post(url, data=BODY, headers=HEADERS, allow_loopback=True, timeout=5)
    assert tls_server.requests == []
