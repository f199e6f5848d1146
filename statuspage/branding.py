"""The page's brand colour, as a stylesheet.

The colour is the page's only styling setting: a validated #rrggbb (`Page.brand_colour`), never raw CSS.
The public page cannot set it in an inline <style> (the Content-Security-Policy allows no inline style), so
it links /brand/<rrggbb>.css, which says `:root { --brand: #rrggbb; }`. The URL carries the whole answer:
no database query, the same file for every page with that colour, cached as immutable, and the URL
pattern accepts six hex digits and nothing else.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

CACHE_CONTROL = "public, max-age=31536000, immutable"


@require_safe
def brand_css(request: HttpRequest, colour: str) -> HttpResponse:
    response = HttpResponse(
        f":root {{ --brand: #{colour.lower()}; }}\n", content_type="text/css; charset=utf-8"
    )
    response["Cache-Control"] = CACHE_CONTROL
    return response
