"""The front nginx of docker-compose.yml (deploy/nginx/openstatus.conf.template), run outside Docker: for
bench/public_load.py and tests/statuspage/test_front_cache.py.

The template is rendered as nginx's official image renders it (envsubst of the variables it names, every
other `$name` left to nginx) and put inside an http block like the image's nginx.conf: worker processes
one a core, sendfile, keep-alive. Everything lives in a folder of the caller's (configuration, pid, cache,
temporary files, logs); nginx runs in the foreground as a child process on a port of its own, and the
system's nginx service is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx" / "openstatus.conf.template"

# The image's /etc/nginx/nginx.conf, less its user, paths and log format: one worker a core, 1024
# connections each, sendfile, no TCP_CORK (tcp_nopush: with it, answers from the cache stalled 40 ms on a
# kept-alive connection, its header and body leaving in separate writes).
MAIN = """{user}worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include {mime_types};
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
{site}
}}
"""


def binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def render(values: dict[str, str]) -> str:
    """The template with ${NAME} replaced for each NAME in values, as envsubst does; a variable the
    template names but values lacks is an error here (envsubst would leave it, and nginx would refuse)."""
    text = TEMPLATE.read_text()
    missing = sorted(set(re.findall(r"\$\{([A-Z_]+)\}", text)) - set(values))
    if missing:
        raise ValueError(f"the front template needs {', '.join(missing)}")
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: values[m.group(1)], text)


def configure(work: Path, *, port: int, upstream: str, behind_tls_proxy: bool = False) -> Path:
    """Write the front's nginx.conf into work (created) and return its path."""
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    (work / "cache").mkdir(exist_ok=True)
    site = render(
        {
            "FRONT_LISTEN": f"127.0.0.1:{port}",
            "FRONT_UPSTREAM": upstream,
            "FRONT_CACHE_DIR": str(work / "cache"),
            "FRONT_ACCESS_LOG": str(work / "access.log"),
            "BEHIND_TLS_PROXY": "true" if behind_tls_proxy else "false",
        }
    )
    mime_types = "/etc/nginx/mime.types"
    if not os.path.exists(mime_types):  # the image has it; a bare nginx binary may not
        (work / "mime.types").write_text("types { text/html html; application/json json; }\n")
        mime_types = str(work / "mime.types")
    conf = work / "nginx.conf"
    # Started as root, nginx would run its workers as nobody, who cannot enter a test's private temporary
    # folder; they run as the caller instead (this nginx only ever listens on 127.0.0.1).
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf.write_text(MAIN.format(user=user, work=work, mime_types=mime_types, site=site))
    return conf


def start(work: Path, *, port: int, upstream: str, behind_tls_proxy: bool = False) -> subprocess.Popen:
    """nginx as the front of `upstream` (host:port) on 127.0.0.1:port; the caller stops it."""
    nginx = binary()
    if nginx is None:
        raise FileNotFoundError("nginx not found: apt-get install -y nginx-light")
    conf = configure(work, port=port, upstream=upstream, behind_tls_proxy=behind_tls_proxy)
    log = open(work / "nginx.log", "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [nginx, "-p", str(work), "-c", str(conf)], start_new_session=True, stdout=log, stderr=log
    )
