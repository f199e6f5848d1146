"""What "inert" means, checked on the output by a real HTML parser (the stdlib's), never by the sanitizer.

An HTML document is inert when it has no script we did not write, no event handler attribute, no
javascript:/data:/vbscript: URL in an attribute that loads or navigates, no frame, plugin, <base>,
<meta http-equiv> or user <style>, and no style attribute where the Content-Security-Policy forbids them
(everywhere but emails, whose style attributes are ours and fixed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "poster",
    "background",
    "srcset",
    "codebase",
    "ping",
    "lowsrc",
    "dynsrc",
    "cite",
}
FORBIDDEN_TAGS = {
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "base",
    "style",
    "math",
    "animate",
    "set",
    "use",
    "foreignobject",
    "noscript",
    "portal",
}
BAD_SCHEMES = ("javascript:", "data:", "vbscript:")
# What a browser ignores in a URL: control characters and spaces before the scheme, tabs/newlines anywhere.
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")
_BAD_CSS = re.compile(r"expression\s*\(|url\s*\(|javascript:|@import|behavior\s*:|-moz-binding", re.I)

# Our own <link> and <meta> tags: nothing else may appear.
OUR_LINK_RELS = {"stylesheet", "icon", "alternate"}
OUR_META = {"viewport", "description", "htmx-config", "color-scheme"}


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


class _Checker(HTMLParser):
    def __init__(self, *, styles_allowed: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.styles_allowed = styles_allowed
        self.findings = Findings()
        self.in_script: dict | None = None

    def problem(self, message: str) -> None:
        self.findings.problems.append(message)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        where = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attrs)}>"[:200]
        if tag in FORBIDDEN_TAGS:
            self.problem(f"forbidden element {where}")
        if tag == "svg" and "dep-graph" not in values.get("class", "").split():
            self.problem(f"an <svg> that is not our dependency diagram: {where}")
        if tag == "script":
            self.in_script = values
            ours = values.get("src", "").startswith("/static/") or values.get("type") == "application/json"
            if not ours:
                self.problem(f"a script that is not ours: {where}")
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            href = values.get("href", "")
            if not rels <= OUR_LINK_RELS or href.startswith(("http:", "https:", "//")):
                self.problem(f"a link that is not ours: {where}")
        if tag == "meta" and (
            "http-equiv" in values or ("charset" not in values and values.get("name") not in OUR_META)
        ):
            self.problem(f"a meta tag that is not ours: {where}")
        for name, value in values.items():
            if name.startswith("on"):
                self.problem(f"event handler attribute {name} in {where}")
            if name in URL_ATTRIBUTES or name.endswith(":href"):
                url = _URL_NOISE.sub("", value).lower()
                if url.startswith(BAD_SCHEMES):
                    self.problem(f"dangerous URL in {name}: {where}")
            if name == "style":
                if not self.styles_allowed:
                    self.problem(f"style attribute (the CSP blocks them): {where}")
                elif _BAD_CSS.search(value):
                    self.problem(f"dangerous CSS in a style attribute: {where}")
            if name == "srcdoc":
                self.problem(f"srcdoc attribute: {where}")

    def handle_startendtag(self, tag, attrs) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self.in_script = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = None

    def handle_data(self, data: str) -> None:
        if self.in_script is not None and data.strip():
            if self.in_script.get("type") != "application/json":
                self.problem(f"inline script content: {data[:120]!r}")
            return
        self.findings.text.append(data)


def check_html(html: str, *, styles_allowed: bool = False) -> Findings:
    parser = _Checker(styles_allowed=styles_allowed)
    parser.feed(html)
    parser.close()
    return parser.findings


def assert_inert(html: str, where: str, *, styles_allowed: bool = False) -> Findings:
    findings = check_html(html, styles_allowed=styles_allowed)
    assert not findings.problems, f"{where}: " + "\n".join(findings.problems[:20])
    return findings
