"""A counting WSGI wrapper, for tests that must know which layer answered a request."""

from __future__ import annotations


class Counted:
    """A WSGI app that counts the requests it is handed, and keeps the environ of the last one."""

    def __init__(self, app):
        self.app, self.calls, self.last_environ = app, 0, None

    def __call__(self, environ, start_response):
        self.calls += 1
        self.last_environ = environ
        return self.app(environ, start_response)
