"""Settings are read strictly from the environment; bad values stop the start with a clear message."""

import os
import subprocess
import sys

import pytest

from statuspage.settings import BASE_DIR

GOOD_KEY = "k" * 50


def start(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECRET_KEY", "DEBUG", "DATABASE_URL", "EMAIL"))
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='statuspage.settings'; "
            "from django.conf import settings; print(settings.SECRET_KEY[:4], settings.DEBUG)",
        ],
        env=clean | env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_refuses_to_start_without_a_real_secret_when_debug_is_off():
    result = start({"DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_short_secret_is_refused_too():
    result = start({"SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_debug_allows_the_development_key():
    result = start({"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["deve", "True"]


@pytest.mark.parametrize("value", ["ture", "2", "enabled"])
def test_a_boolean_that_cannot_be_read_is_an_error_naming_the_variable(value):
    result = start({"DEBUG": value, "SECRET_KEY": GOOD_KEY})
    assert result.returncode != 0
    assert f"DEBUG={value!r} is not a boolean" in result.stderr


def test_secret_is_read_from_a_file(tmp_path):
    path = tmp_path / "secret"
    path.write_text("f" * 40 + "\n")
    result = start({"SECRET_KEY_FILE": str(path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ffff", "False"]


def test_unreadable_secret_file_is_an_error(tmp_path):
    result = start({"SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert "SECRET_KEY_FILE" in result.stderr


def test_bad_database_url_and_numbers_are_refused():
    assert "DATABASE_URL" in start({"SECRET_KEY": GOOD_KEY, "DATABASE_URL": "nosuch://x"}).stderr
    assert "EMAIL_PORT='twenty'" in start({"SECRET_KEY": GOOD_KEY, "EMAIL_PORT": "twenty"}).stderr


def test_tls_and_ssl_together_are_refused():
    result = start({"SECRET_KEY": GOOD_KEY, "EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"})
    assert "EMAIL_USE_TLS and EMAIL_USE_SSL" in result.stderr


def test_every_variable_the_settings_read_is_listed_in_env_example():
    import re

    source = (BASE_DIR / "statuspage" / "settings.py").read_text()
    names = set(re.findall(r'env_(?:str|bool|int|list|secret)\("([A-Z_]+)"', source))
    example = (BASE_DIR / ".env.example").read_text()
    missing = {n for n in names if not re.search(rf"^#?\s*{n}=", example, re.M)}
    assert not missing, f"not in .env.example: {sorted(missing)}"
    for doc in ("README.md", "docs/configuration.md"):
        text = (BASE_DIR / doc).read_text()
        assert not {n for n in names if f"`{n}`" not in text}, f"{doc} misses a variable"
