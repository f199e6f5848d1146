"""Every API answer is JSON, errors included, in Statuspage's shape `{"message": ...}`, with our field
errors beside it: `{"message": "...", "errors": {"field": ["..."]}}`."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for field, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[f"{field}.{sub}"] = messages
            elif isinstance(value, list):
                flat = []
                for item in value:
                    if isinstance(item, dict):
                        for sub, messages in _flatten(item).items():
                            out[f"{field}.{sub}"] = messages
                    else:
                        flat.append(str(item))
                if flat:
                    out[field] = flat
            else:
                out[field] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(item) for item in detail]}
    return {"non_field_errors": [str(detail)]}


def _message(errors: dict[str, list[str]]) -> str:
    parts = []
    for field, messages in errors.items():
        label = "" if field in ("non_field_errors", "__all__") else f"{field}: "
        parts.append(label + " ".join(messages))
    return "; ".join(parts) or "The request is not valid."


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        return Response({"message": "The request body is too large."}, status=413)
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError("The request has too many fields.")
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return Response({"message": _message(errors), "errors": errors}, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's handler500, logged
    detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
    response.data = {"message": str(detail)}
    return response


@csrf_exempt  # key-authenticated like the rest of the API; a PUT to a wrong path is a 404, not a CSRF page
def not_found(request, *args, **kwargs) -> JsonResponse:
    """Unknown paths under /api/ answer JSON, like everything else there."""
    return JsonResponse({"message": "Not found."}, status=404)
