"""Every outbound request (subscriber webhooks, the page's escalation webhook) against a table of tricky
addresses: decimal, octal and hexadecimal IPv4, IPv4-mapped and NAT64/6to4/Teredo IPv6, metadata services,
CGNAT, multicast, trailing dots, user-info tricks, IDNA look-alikes, names that resolve inside, redirects
and DNS rebinding (issue 8, point 5).

The loopback rows point at a real listener on 127.0.0.1 and ::1 (the same port), so a guard that let one
through would really connect and the listener would record it: "refused" means no byte left. Names under
.test come from a stub of socket.getaddrinfo, the process's edge: nothing here needs DNS or the internet.
tests/subscribers/test_netguard.py covers the guard's own unit behaviour (TLS, pooling, timeouts).
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from incidents import cadence
from incidents.models import CadenceNotice
from incidents.services import create_incident
from statuspage.models import Page
from statuspage.services import SYSTEM, Actor, add_member, update_page
from subscribers.models import Subscriber
from subscribers.netguard import UnsafeURL, check_url, safe_post
from subscribers.services import subscribe

BODY = b'{"event": "incident.created"}'
HEADERS = {"Content-Type": "application/json"}

# (URL with {port} of the loopback listener, what the refusal says). Every way of writing "this machine".
LOOPBACK = [
    ("http://127.0.0.1:{port}/", "to this server itself"),
    ("http://127.1:{port}/", "to this server itself"),
    ("http://127.0.1:{port}/", "to this server itself"),
    ("http://2130706433:{port}/", "to this server itself"),  # decimal
    ("http://0x7f000001:{port}/", "to this server itself"),  # hexadecimal
    ("http://0x7f.0x0.0x0.0x1:{port}/", "to this server itself"),
    ("http://017700000001:{port}/", "to this server itself"),  # octal
    ("http://0177.0.0.1:{port}/", "to this server itself"),
    ("http://0177.1:{port}/", "to this server itself"),
    ("http://127.000.000.001:{port}/", "to this server itself"),
    ("http://127.8.9.10:{port}/", "to this server itself"),
    ("http://0.0.0.0:{port}/", "unspecified address"),  # Linux connects it to this host
    ("http://0:{port}/", "unspecified address"),
    ("http://[::]:{port}/", "unspecified address"),
    ("http://[::1]:{port}/", "to this server itself"),
    ("http://[0:0:0:0:0:0:0:1]:{port}/", "to this server itself"),
    ("http://[::ffff:127.0.0.1]:{port}/", "to this server itself"),  # IPv4-mapped
    ("http://[::ffff:7f00:1]:{port}/", "to this server itself"),
    ("http://[::127.0.0.1]:{port}/", "reserved address range"),  # IPv4-compatible (deprecated)
    ("http://[::ffff:0:127.0.0.1]:{port}/", "reserved address range"),  # IPv4-translated (SIIT)
    ("http://[64:ff9b::7f00:1]:{port}/", "to this server itself"),  # NAT64
    ("http://[2002:7f00:1::]:{port}/", "to this server itself"),  # 6to4
    ("http://localhost:{port}/", "to this server itself"),
    ("http://LOCALHOST:{port}/", "to this server itself"),
    ("http://localhost.:{port}/", "to this server itself"),  # trailing dot: the same name
    ("http://LOCALHOST.:{port}/", "to this server itself"),
    ("http://127.0.0.1.:{port}/", "to this server itself"),
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{port}/", "to this server itself"),  # IDNA maps it to localhost
    # Full-width digits for 127.0.0.1.
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:{port}/", "to this server itself"),
    ("http://127\u30020\u30020\u30021:{port}/", "to this server itself"),  # ideographic full stops
    ("HTTP://127.0.0.1:{port}/", "to this server itself"),
    ("http://good.example@127.0.0.1:{port}/", "user name or password"),  # user-info tricks
    ("http://127.0.0.1:{port}@good.example/", "user name or password"),
    ("http://good.example:x@[::1]:{port}/", "user name or password"),
]

# Nothing listens there; each must be refused before any connection is tried.
INTERNAL = [
    ("http://169.254.169.254/latest/meta-data/", "to a cloud metadata service"),
    ("http://[fd00:ec2::254]/", "to a cloud metadata service"),
    ("http://100.100.100.200/", "to a cloud metadata service"),
    ("http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "to a cloud metadata service"),
    ("http://[::ffff:169.254.169.254]:8080/", "to a cloud metadata service"),
    ("http://[64:ff9b::a9fe:a9fe]/", "to a cloud metadata service"),
    ("http://2852039166/", "to a cloud metadata service"),  # 169.254.169.254 in decimal
    ("http://0xa9fea9fe/", "to a cloud metadata service"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[febf::1]/", "link-local"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://100.127.255.254/", "carrier-grade NAT"),
    ("http://10.0.0.1/", "private network"),
    ("http://10.255.255.255/", "private network"),
    ("http://012.0.0.1/", "private network"),  # octal 10.0.0.1
    ("http://167772161/", "private network"),  # decimal 10.0.0.1
    ("http://172.16.0.1/", "private network"),
    ("http://172.31.255.254/", "private network"),
    ("http://192.168.0.1/", "private network"),
    ("https://192.168.1.1:8443/", "private network"),
    ("http://[fc00::1]/", "private network"),
    ("http://[fdff:ffff::1]/", "private network"),
    ("http://[::ffff:10.0.0.1]/", "private network"),
    ("http://[2002:c0a8:101::1]/", "private network"),  # 6to4 of 192.168.1.1
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "private network"),  # Teredo
    ("http://[64:ff9b:1::a00:1]/", "reserved address range"),  # local-use NAT64 (RFC 8215)
    ("http://0.1.2.3/", "private network"),  # "this network"
    ("http://198.18.0.1/", "private network"),  # benchmarking
    ("http://192.0.0.170/", "private network"),
    ("http://[2001:db8::1]/", "private network"),  # documentation
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250:1900/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "reserved address range"),
    ("http://240.0.0.1/", "reserved address range"),
    ("http://[100::1]/", "reserved address range"),  # discard-only
    ("http://[fec0::1]/", "site-local"),
    ("http://192.0.2.1/", "private network"),  # documentation (TEST-NET-1)
    ("http://[fe80::1%25eth0]/", "does not resolve"),  # a zone id in a URL never resolves
    ("gopher://127.0.0.1:6379/_INFO", "must start with http"),
    ("file:///etc/passwd", "must start with http"),
    ("dict://127.0.0.1:11211/", "must start with http"),
    ("http://127.0.0.1:0/", "port must be"),
    ("http://127.0.0.1:65536/", "port must be"),
]

# Names under .test and what the stub resolver answers for them.
ZONES = {
    "internal.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "metadata6.test": ["fd00:ec2::254"],
    "mapped.test": ["::ffff:192.168.0.10"],
    "nat64.test": ["64:ff9b::a9fe:a9fe"],
    "cgnat.test": ["100.64.3.4"],
    "ula.test": ["fd12:3456::1"],
    "mixed.test": ["93.184.216.34", "172.20.0.2"],  # one public, one private: refused as a whole
    "mixed6.test": ["2606:4700:4700::1111", "fe80::5"],
    "loopback.test": ["127.0.0.1"],
    "loopback6.test": ["::1"],
}
BY_NAME = [(f"http://{name}/", answers[-1]) for name, answers in ZONES.items()]
ALL = [url for url, _ in LOOPBACK + INTERNAL]


class _Listener(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], family: int, seen: list[str]) -> None:
        self.address_family = family
        self.seen = seen
        super().__init__(address, _Record)


class _Record(BaseHTTPRequestHandler):
    """Records every request and answers 200, or a redirect for /redirect?to=<url>."""

    server: _Listener

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append(self.path)
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", unquote(self.path.removeprefix("/redirect?to=")))
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Loopback:
    """One port, listening on 127.0.0.1 and on ::1, recording every request either receives."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.servers: list[_Listener] = []
        for _ in range(20):  # the ::1 side may find the port taken; try another
            v4 = _Listener(("127.0.0.1", 0), socket.AF_INET, self.seen)
            try:
                v6 = _Listener(("::1", v4.server_address[1]), socket.AF_INET6, self.seen)
            except OSError:
                v4.server_close()
                continue
            self.servers = [v4, v6]
            break
        else:
            raise RuntimeError("no port free on both 127.0.0.1 and ::1")
        self.port = self.servers[0].server_address[1]
        self.threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in self.servers
        ]

    def __enter__(self) -> Loopback:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for thread in self.threads:
            thread.join(timeout=5)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def _loopback() -> Iterator[Loopback]:
    with Loopback() as loopback:
        yield loopback


@pytest.fixture
def listener(_loopback: Loopback) -> Loopback:
    _loopback.seen.clear()
    return _loopback


# For rebinding: name -> successive answers, one address per lookup, the last one repeating.
ZONES_NOW: dict[str, list[str]] = {}


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Answer names under .test from ZONES_NOW, then ZONES; other names go to the real resolver. Yields the
    list of .test names looked up, in order."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if not (isinstance(host, str) and host.endswith(".test")):
            return real(host, port, family, type, proto, flags)
        lookups.append(host)
        if host in ZONES_NOW:
            queue = ZONES_NOW[host]
            answers = [queue.pop(0) if len(queue) > 1 else queue[0]]
        elif host in ZONES:
            answers = ZONES[host]
        else:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
            for a in answers
        ]

    ZONES_NOW.clear()
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield lookups
    ZONES_NOW.clear()


def fill(url: str, listener: Loopback) -> str:
    return url.replace("{port}", str(listener.port))


# The guard itself: refused at subscribe time and at send time, before any byte leaves.


@pytest.mark.parametrize(("url", "reason"), LOOPBACK + INTERNAL)
def test_the_guard_refuses_every_tricky_address(url: str, reason: str, listener: Loopback) -> None:
    with pytest.raises(UnsafeURL, match=reason):
        check_url(fill(url, listener))
    with pytest.raises(UnsafeURL, match=reason):
        safe_post(fill(url, listener), data=BODY, headers=HEADERS, timeout=2)
    assert listener.seen == []


@pytest.mark.parametrize(("url", "reason"), INTERNAL)
def test_allowing_loopback_for_tests_opens_nothing_else(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL, match=reason):
        check_url(url, allow_loopback=True)


def test_the_listener_does_receive_what_the_guard_lets_through(listener: Loopback) -> None:
    # The control for the table: with loopback allowed, the same URLs really arrive, on IPv4 and IPv6.
    for url in ("http://127.0.0.1:{port}/v4", "http://[::1]:{port}/v6", "http://2130706433:{port}/dec"):
        assert safe_post(fill(url, listener), data=BODY, headers=HEADERS, allow_loopback=True)[0] == 200
    assert listener.seen == ["/v4", "/v6", "/dec"]


@pytest.mark.parametrize(("url", "address"), BY_NAME)
def test_names_resolving_inside_are_refused_naming_the_address(url: str, address: str, dns) -> None:
    with pytest.raises(UnsafeURL, match=re.escape(f"({address})")) as refused:
        check_url(url, allow_loopback=False)
    assert url.split("/")[2] in str(refused.value)
    with pytest.raises(UnsafeURL):
        safe_post(url, data=BODY, headers=HEADERS, timeout=2)
    if not url.startswith("http://loopback"):  # those are refused only while loopback is
        with pytest.raises(UnsafeURL):
            check_url(url, allow_loopback=True)


# Redirects: the first hop is the test's own loopback receiver (allowed, as in the suite); the second is
# refused, and never contacted.


@pytest.mark.parametrize(("url", "reason"), INTERNAL)
def test_a_redirect_to_an_internal_address_is_refused(url: str, reason: str, listener: Loopback) -> None:
    start = listener.url(f"/redirect?to={quote(url, safe='')}")
    with pytest.raises(UnsafeURL, match=f"redirected to .*, which is refused: .*{reason}"):
        safe_post(start, data=BODY, headers=HEADERS, allow_loopback=True, timeout=2)
    assert len(listener.seen) == 1


def test_a_redirect_to_a_name_resolving_inside_is_refused(listener: Loopback, dns) -> None:
    start = listener.url(f"/redirect?to={quote('http://metadata.test/latest/', safe='')}")
    with pytest.raises(UnsafeURL, match=r"metadata\.test points to a cloud metadata service"):
        safe_post(start, data=BODY, headers=HEADERS, allow_loopback=True, timeout=2)
    assert dns == ["metadata.test"]


# DNS rebinding: resolve once, connect to what was checked.


def test_rebinding_after_the_check_connects_to_the_checked_address_only(listener: Loopback, dns) -> None:
    ZONES_NOW["rebind.test"] = ["127.0.0.1", "10.0.0.1"]
    status, _ = safe_post(
        f"http://rebind.test:{listener.port}/pinned", data=BODY, headers=HEADERS, allow_loopback=True
    )
    assert status == 200
    assert dns == ["rebind.test"]  # one lookup, so the second answer was never asked for
    assert listener.seen == ["/pinned"]


# Every entry point that stores or calls an outbound URL applies the same table.


@pytest.fixture
def no_loopback(settings):
    settings.WEBHOOK_ALLOW_LOOPBACK = False


@pytest.mark.django_db
@pytest.mark.usefixtures("no_loopback", "dns")
@pytest.mark.parametrize("url", ALL + [u for u, _ in BY_NAME])
def test_subscribing_a_webhook_to_a_tricky_address_is_refused(url: str, page, listener: Loopback) -> None:
    with pytest.raises(ValidationError) as refused:
        subscribe(page=page, endpoint=fill(url, listener), actor=SYSTEM, skip_confirmation=True)
    assert "endpoint" in refused.value.message_dict
    assert not Subscriber.objects.exists()
    assert listener.seen == []


@pytest.mark.django_db
@pytest.mark.usefixtures("no_loopback", "dns")
@pytest.mark.parametrize("url", ALL + [u for u, _ in BY_NAME])
def test_an_escalation_webhook_to_a_tricky_address_is_refused(url: str, page, listener: Loopback) -> None:
    with pytest.raises(ValidationError) as refused:
        update_page(actor=SYSTEM, page=page, escalation_webhook_url=fill(url, listener))
    assert "escalation_webhook_url" in refused.value.message_dict
    assert Page.objects.get(pk=page.pk).escalation_webhook_url == ""


T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def overdue(page, smtp):
    """An incident whose update is overdue, so the next cadence run escalates to the page's webhook."""
    owner = User.objects.create_user("owner", "owner@example.com", "pw")
    add_member(actor=SYSTEM, page=page, user=owner, role="owner")
    incident = create_incident(actor=Actor.of(owner), page=page, name="API errors", body="Looking", at=T)

    def escalate() -> CadenceNotice:
        with time_machine.travel(T + timedelta(minutes=31), tick=False):
            cadence.sweep()
            cadence.deliver_pending()
        return CadenceNotice.objects.get(incident=incident, kind="escalation")

    return escalate


@pytest.mark.django_db
def test_the_escalation_webhook_is_checked_again_when_sent(page, overdue, listener: Loopback, settings):
    # Saved while allowed (or before DNS changed), refused at send time: nothing reaches the listener.
    update_page(actor=SYSTEM, page=page, escalation_webhook_url=listener.url("/escalate"))
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    notice = overdue()
    assert notice.sent_at is None
    assert "this server itself (127.0.0.1)" in notice.last_error
    assert listener.seen == []


@pytest.mark.django_db
def test_the_escalation_webhook_is_not_redirected_inside(page, overdue, listener: Loopback):
    target = quote("http://169.254.169.254/latest/meta-data/iam/", safe="")
    update_page(actor=SYSTEM, page=page, escalation_webhook_url=listener.url(f"/redirect?to={target}"))
    notice = overdue()
    assert notice.sent_at is None
    assert "cloud metadata service" in notice.last_error
    assert len(listener.seen) == 1


@pytest.mark.django_db
def test_the_escalation_webhook_survives_dns_rebinding(page, overdue, listener: Loopback, settings, dns):
    # Public when saved, loopback when sent.
    ZONES_NOW["hooks.test"] = ["93.184.216.34", "127.0.0.1"]
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    update_page(actor=SYSTEM, page=page, escalation_webhook_url=f"http://hooks.test:{listener.port}/hook")
    notice = overdue()
    assert dns == ["hooks.test", "hooks.test"]
    assert notice.sent_at is None and "hooks.test points to this server itself" in notice.last_error
    assert listener.seen == []


@pytest.mark.django_db
def test_the_escalation_webhook_still_reaches_an_allowed_receiver(page, overdue, listener: Loopback):
    update_page(actor=SYSTEM, page=page, escalation_webhook_url=listener.url("/escalate"))
    notice = overdue()
    assert notice.sent_at is not None and notice.last_error == ""
    assert listener.seen == ["/escalate"]
