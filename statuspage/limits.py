"""A cap on the size of every request body, checked before anything reads it.

Django bounds form fields (DATA_UPLOAD_MAX_MEMORY_SIZE, DATA_UPLOAD_MAX_NUMBER_FIELDS) but not uploaded
files: a multipart body of any size is streamed to a temporary file before a form can say "too big". So a
request announcing more than MAX_REQUEST_BYTES is answered 413 at once, with a plain message, and its body is
never read. A body without a Content-Length (chunked) is read by Django as empty, so the header is the whole
story under WSGI.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads an unparseable length as an empty body too
        limit = settings.MAX_REQUEST_BYTES
        if length > limit:
            message = f"The request is too large: at most {limit // (1024 * 1024)} MB, please."
            if request.path.startswith("/api/") or "json" in request.META.get("CONTENT_TYPE", ""):
                response: HttpResponse = JsonResponse({"message": message}, status=413)
            else:
                response = HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
            # The body is left unread; closing tells the client not to send it on this connection.
            response["Connection"] = "close"
            return response
        return self.get_response(request)
