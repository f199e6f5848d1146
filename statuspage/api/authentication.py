"""API keys on the wire, as Statuspage accepts them: `Authorization: OAuth <key>`, `Authorization: Bearer
<key>`, or `?api_key=<key>`."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from statuspage.models import APIKey
from statuspage.services import Actor, authenticate_api_key


class KeyUser:
    """request.user for a request made with an API key: the key acts, under its own name."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, key: APIKey) -> None:
        self.key = key
        self.actor = Actor(user=None, label=f"API key {key.name} ({key.prefix}…)")

    def __str__(self) -> str:
        return self.actor.label


class APIKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1").strip()
        if header:
            scheme, _, raw = header.partition(" ")
            if scheme.lower() not in ("oauth", "bearer", "token"):
                raise AuthenticationFailed("Send the key as 'Authorization: OAuth <key>'.")
        else:
            raw = request.query_params.get("api_key", "")
        raw = raw.strip()
        if not raw:
            return None
        key = authenticate_api_key(raw)
        if key is None:
            raise AuthenticationFailed("This API key is not valid, or it was revoked or has expired.")
        return KeyUser(key), key

    def authenticate_header(self, request) -> str:
        # A WWW-Authenticate header makes DRF answer 401 rather than 403 when no key is given.
        return 'OAuth realm="api"'
