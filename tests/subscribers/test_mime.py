"""The wire form's pieces that a fan-out builds once per event: a body encoded ahead with placeholders must
come out byte for byte as encoding the finished text would, and dot-stuffing must match RFC 5321's rule."""

from __future__ import annotations

import email
import email.policy
import re

from hypothesis import given
from hypothesis import strategies as st

from subscribers.channels import mime
from subscribers.channels.email import _dot_stuffed

PLACEHOLDERS = ("%%MANAGE_URL%%", "%%UNSUBSCRIBE_URL%%")

# Text as templates make it: any characters, long and short lines, trailing spaces and tabs, CRLF or LF,
# leading dots, "=" signs; with the placeholders anywhere, several to a line or none.
chunk = st.one_of(
    st.text(max_size=120),
    st.sampled_from(["\n", "\r\n", " \n", "\t\n", ".", "=", "x" * 90, "é", "🚒", "  ", *PLACEHOLDERS]),
)
templates = st.lists(chunk, max_size=40).map("".join)
values = st.fixed_dictionaries(
    {
        PLACEHOLDERS[0]: st.text(max_size=200),
        PLACEHOLDERS[1]: st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:/._-=?&", max_size=220),
    }
)


@given(templates, values)
def test_a_body_encoded_ahead_is_what_encoding_the_filled_text_gives(template, filled_with):
    body = mime.Body(template, PLACEHOLDERS)
    text = body.fill(filled_with)
    assert text == template.replace(PLACEHOLDERS[0], filled_with[PLACEHOLDERS[0]]).replace(
        PLACEHOLDERS[1], filled_with[PLACEHOLDERS[1]]
    )
    assert body.encode(filled_with) == mime.quoted_printable(text)


def test_a_real_notification_body_encodes_only_its_link_lines_per_message():
    template = "Status: fine\n" * 50 + "Manage: %%MANAGE_URL%%\nUnsubscribe: %%UNSUBSCRIBE_URL%%\n" + "--\n"
    body = mime.Body(template, PLACEHOLDERS)
    to_fill = [piece for piece in body.pieces if isinstance(piece, str)]
    assert to_fill == ["Manage: %%MANAGE_URL%%\n", "Unsubscribe: %%UNSUBSCRIBE_URL%%\n"]


@given(st.text(alphabet=".\r\nab", max_size=60))
def test_dot_stuffing_doubles_every_leading_dot_and_ends_with_crlf(text):
    data = text.replace("\r", "").replace("\n", "\r\n").encode()
    stuffed = _dot_stuffed(data)
    assert stuffed.endswith(b"\r\n")
    expected = re.sub(rb"(?m)^\.", b"..", data)
    assert stuffed == (expected if expected.endswith(b"\r\n") else expected + b"\r\n")


def test_messages_share_a_boundary_that_no_quoted_printable_part_can_contain():
    a = mime.build(headers=[("Subject", "a")], text="=_sp_ in text", html="<p>=_sp_</p>")
    b = mime.build(headers=[("Subject", "b")], text="other", html="<p>other</p>")
    boundaries = {email.message_from_bytes(raw).get_boundary() for raw in (a, b)}
    assert len(boundaries) == 1 and boundaries.pop().startswith("=_")
    for raw in (a, b):
        message = email.message_from_bytes(raw, policy=email.policy.strict)
        assert [p.get_content_type() for p in message.walk()] == [
            "multipart/alternative",
            "text/plain",
            "text/html",
        ]
    assert (
        "=_sp_ in text"
        in email.message_from_bytes(a, policy=email.policy.default)
        .get_body(preferencelist=("plain",))
        .get_content()
    )
