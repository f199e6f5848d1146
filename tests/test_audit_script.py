"""CI's dependency audit (.ci/audit.py): which pip-audit findings fail the build. This machine's PyPI
mirror has no JSON API, so CI here cannot fetch advisories; the filter is checked on pip-audit's own
report shape instead."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_audit():
    spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REPORT = {
    "dependencies": [
        {
            "name": "django",
            "version": "5.2.0",
            "vulns": [
                {"id": "PYSEC-2025-1", "aliases": ["CVE-2025-0001"], "fix_versions": ["5.2.1"]},
            ],
        },
        {
            "name": "somelib",
            "version": "1.0",
            "vulns": [
                {"id": "GHSA-xxxx", "aliases": [], "fix_versions": []},
            ],
        },
        {"name": "clean", "version": "2.0", "vulns": []},
        {"name": "gone", "version": "0.1", "skip_reason": "Dependency not found on PyPI"},
    ]
}


def test_a_vulnerability_with_a_fix_fails_one_without_warns_and_skips_are_reported():
    with_fix, without_fix, skipped = load_audit().fixable(REPORT)
    assert with_fix == ["django 5.2.0: PYSEC-2025-1 (CVE-2025-0001); fixed in 5.2.1"]
    assert without_fix == ["somelib 1.0: GHSA-xxxx; no fixed version yet"]
    assert skipped == ["gone: Dependency not found on PyPI"]


def test_the_lock_pins_what_is_installed():
    audit = load_audit()
    locked = set((ROOT / "requirements.lock").read_text().splitlines())
    assert all(f"{name}=={version}" in locked for name, version in audit.closure().items())
