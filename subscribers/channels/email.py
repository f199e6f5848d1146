"""Email through Django's email backend (SMTP, or any provider through django-anymail).

Over SMTP the message is sent in two phases so a worker that dies mid-send neither loses nor repeats it: the
envelope first, then, once this worker has checked the delivery is still its own, the body and the final "."
handed to the kernel corked (queued, not yet on the wire, so the write wakes no other process and the worker
keeps the CPU). The delivery is recorded sent in the same breath (subscribers.delivery._Commit), and only then
is the cork released. A worker killed before the body is queued leaves the server with an unfinished message,
which it discards; the sweeper then resends it once. A worker killed at any point after it is queued still
has it sent by the kernel as the socket closes. Other backends (HTTP APIs) send, then commit: at least once,
with the delivery's Message-ID as the idempotency key."""

from __future__ import annotations

import contextlib
import functools
import smtplib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr

from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address

from subscribers.channels import mime
from subscribers.channels.base import Channel, DeliveryError, Superseded


@dataclass
class EmailContent:
    subject: str
    text: str
    html: str
    from_email: str
    to: str
    headers: dict[str, str] = field(default_factory=dict)
    # Both bodies already quoted-printable, when the sender has them (a fan-out encodes its templates once
    # per event, mime.Body): the wire form then skips encoding them again.
    encoded: tuple[bytes, bytes] | None = None

    def wire(self) -> tuple[str, str, bytes]:
        """Envelope sender, envelope recipient and the message as it goes over SMTP (see mime.py)."""
        sender, from_header = _sender(self.from_email)
        recipient = self.to if self.to.isascii() else sanitize_address(self.to, "utf-8")
        headers = [
            ("From", from_header),
            ("To", recipient),
            ("Subject", mime.header_value("Subject", self.subject)),
        ]
        headers += [(key, mime.header_value(key, value)) for key, value in self.headers.items()]
        if self.encoded is not None:
            text, html = self.encoded
            return sender, recipient, mime.build_encoded(headers=headers, text=text, html=html)
        return sender, recipient, mime.build(headers=headers, text=self.text, html=self.html)

    def message(self, connection=None) -> EmailMultiAlternatives:
        msg = EmailMultiAlternatives(
            self.subject, self.text, self.from_email, [self.to], headers=self.headers, connection=connection
        )
        msg.attach_alternative(self.html, "text/html")
        return msg


@functools.lru_cache(maxsize=64)
def _sender(from_email: str) -> tuple[str, str]:
    """(envelope sender, From header value) of a From address: one page's fan-out sends 100,000 messages
    from the same one, so it is parsed once."""
    name, sender = parseaddr(from_email)
    if not sender.isascii():
        sender = sanitize_address(sender, "utf-8")
    return sender, mime.address_value(name, sender)


def _dot_stuffed(data: bytes) -> bytes:
    """The message as DATA sends it: a line that starts with "." gets another (RFC 5321 4.5.2), and the
    last line ends with CRLF. mime.build writes CRLF line ends, so every line starts after a "\n"."""
    body = data.replace(b"\n.", b"\n..")
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body


def _smtp_error(code: int, reply: bytes, stage: str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    # 5xx is the server's final word on this message or address; 4xx says "try again later".
    return DeliveryError(f"SMTP {stage}: {code} {text}", permanent=500 <= code < 600)


class EmailChannel(Channel):
    def __init__(self) -> None:
        self.backend = None

    def open(self) -> None:
        self.backend = get_connection(fail_silently=False)
        try:
            self.backend.open()
        except (OSError, smtplib.SMTPException) as exc:
            self.backend = None
            raise DeliveryError(f"cannot reach the mail server: {exc}") from exc

    def close(self) -> None:
        if self.backend is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.backend.close()
            self.backend = None

    def send(self, delivery, content: EmailContent, commit: Callable[..., bool]) -> None:
        if self.backend is None:
            self.open()
        if isinstance(self.backend, SMTPBackend):
            self._send_smtp(content, commit)
            return
        try:
            sent = self.backend.send_messages([content.message(self.backend)])
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"mail backend: {exc}") from exc
        except Exception as exc:  # an anymail provider error: its message says what was wrong
            raise DeliveryError(f"mail backend: {exc}", permanent=_anymail_permanent(exc)) from exc
        if not sent:
            raise DeliveryError("the mail backend accepted nothing")
        if not commit():
            raise Superseded()

    def _send_smtp(self, content: EmailContent, commit: Callable[..., bool]) -> None:
        backend = self.backend
        if backend.connection is None:
            self.open()
            backend = self.backend
        smtp: smtplib.SMTP = backend.connection
        if smtp.sock is not None and not getattr(smtp, "_nodelay", False):
            # Every write here is small and answered before the next; with Nagle's algorithm one could
            # wait for the server's delayed ACK (~40 ms a message).
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp._nodelay = True
        sender, recipient, data = content.wire()
        for address in (sender, recipient):
            if not address.isascii() or any(c in address for c in "<>\r\n\t "):
                raise DeliveryError(f"not a deliverable address: {address!r}", permanent=True)
        try:
            smtp.ehlo_or_helo_if_needed()
            # The commands written directly (smtplib's mail() and rcpt() parse each address again): both
            # addresses are plain ASCII addr-specs here, checked above.
            smtp.putcmd("mail", f"FROM:<{sender}>")
            code, reply = smtp.getreply()
            if code != 250:
                self._reset()
                raise _smtp_error(code, reply, "MAIL FROM")
            smtp.putcmd("rcpt", f"TO:<{recipient}>")
            code, reply = smtp.getreply()
            if code not in (250, 251):
                self._reset()
                raise _smtp_error(code, reply, "RCPT TO")
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                self._reset()
                raise _smtp_error(code, reply, "DATA")
            # The body and the final dot in one corked write, released after the record: the server reads
            # the message in one go, which on a busy mail server is a wake-up a message saved. Full
            # segments of a long body go at once; only the last one, with the dot, waits for the record.
            if not commit(_corked_final(smtp.sock, _dot_stuffed(data))):
                # Someone else owns the delivery now: drop the connection before the final dot, so the
                # server discards what it has.
                self._drop()
                raise Superseded()
            code, reply = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise DeliveryError(f"SMTP: {exc}") from exc
        if code != 250:
            raise _smtp_error(code, reply, "end of data")

    def _drop(self) -> None:
        """Close the socket without QUIT: mid-DATA, a QUIT would be read as message text."""
        if self.backend is not None and self.backend.connection is not None:
            with contextlib.suppress(OSError):
                self.backend.connection.close()
            self.backend.connection = None
        self.backend = None

    def _reset(self) -> None:
        try:
            self.backend.connection.rset()
        except (OSError, smtplib.SMTPException):
            self.close()


_CORK = getattr(socket, "TCP_CORK", None)  # Linux; elsewhere the "." simply goes at once


def _cork(sock: socket.socket) -> None:
    if _CORK is not None:
        sock.setsockopt(socket.IPPROTO_TCP, _CORK, 1)


def _corked_final(sock: socket.socket, body: bytes) -> Callable[[], Callable[[], None]]:
    """The body and final "." as a two-step write for `commit(final)`: queue them in the kernel without
    sending, then release them. Queued bytes are sent when the socket closes, so from the first step on the
    message is accepted even if the process dies."""

    def final() -> Callable[[], None]:
        _cork(sock)
        sock.sendall(body + b".\r\n")

        def release() -> None:
            if _CORK is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _CORK, 0)

        return release

    return final


def _anymail_permanent(exc: Exception) -> bool:
    """Anymail's recipient rejections are final; its API errors may be transient (rate limits, 5xx)."""
    return type(exc).__name__ in {"AnymailRecipientsRefused", "AnymailInvalidAddress"}
