"""Where published documents live: the cache first (shared by every web process), the local disk as the
last resort when the cache is gone. Documents of one publish form a version; a version never changes once
its manifest points at it, so a web process may keep its documents in memory.

Disk layout under SNAPSHOT_DIR:
    site.json                       hosts and slugs to page codes (routing with no database)
    generation                      replaced whenever site.json or a manifest is (the fast path stats it)
    <page code>/manifest.json       {"version", "published_at", "day", ...}
    <page code>/<version>/<name>    one document: a JSON header line, then the body
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gzip
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

CACHE_TTL = 60 * 60 * 24 * 7
# Replaced after every write of the site index or a manifest (_bump_generation).
GENERATION = "generation"
# Below this a body fits in a packet or two either way; gzip's header would be most of the gain.
GZIP_MIN_BYTES = 1024


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110 12.5.3): named with a q above 0, or `*`
    with a q above 0 when gzip is not named."""
    if not accept_encoding:
        return False
    star = False
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip().lower()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if coding == "*":
            star = q > 0
        else:
            return q > 0
    return star


@dataclass(frozen=True)
class Document:
    body: bytes
    content_type: str
    etag: str
    last_modified: float  # epoch seconds
    encoding: str = ""  # Content-Encoding of `body`: "" as published and stored, "gzip" for .gzipped

    @classmethod
    def make(cls, body: bytes | str, content_type: str, last_modified: float) -> Document:
        data = body.encode() if isinstance(body, str) else body
        return cls(
            data, content_type, '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"', last_modified
        )

    @functools.cached_property
    def gzipped(self) -> Document | None:
        """This document gzip-compressed, for clients that accept it, or None when it is too small to
        gain. Made once per process and document (the document never changes) and byte-identical in every
        process (mtime 0), so its ETag, the identity's with "-gzip", names the same bytes everywhere."""
        if len(self.body) < GZIP_MIN_BYTES:
            return None
        data = gzip.compress(self.body, compresslevel=6, mtime=0)
        return Document(data, self.content_type, self.etag[:-1] + '-gzip"', self.last_modified, "gzip")

    def representation(self, *, gzip: bool) -> Document:
        """What to send a client, given whether it accepts gzip (accepts_gzip): the compressed copy when
        it does and one is worth making, else this document. The views and the fast path both choose
        with this, so their answers stay the same bytes."""
        return (self.gzipped or self) if gzip else self

    def pack(self) -> bytes:
        header = json.dumps({"ct": self.content_type, "etag": self.etag, "lm": self.last_modified})
        return header.encode() + b"\n" + self.body

    @classmethod
    def unpack(cls, blob: bytes) -> Document:
        header, _, body = blob.partition(b"\n")
        meta = json.loads(header)
        return cls(body, meta["ct"], meta["etag"], meta["lm"])


class _Memory:
    """A small per-process LRU of immutable (page, version, name) documents."""

    def __init__(self, size: int = 512) -> None:
        self.size, self.items, self.lock = size, OrderedDict(), Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


memory = _Memory()


def _root() -> Path:
    return Path(settings.SNAPSHOT_DIR)


def _safe(name: str) -> str:
    return name.replace("/", "__")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _cache_get(key: str):
    try:
        return cache.get(key)
    except Exception:  # the cache is down: the disk answers instead
        log.warning("snapshot cache unavailable for get %s", key, exc_info=True)
        return None


def _cache_set_many(values: dict) -> None:
    try:
        cache.set_many(values, CACHE_TTL)
    except Exception:
        log.warning("snapshot cache unavailable for set", exc_info=True)


# --- Routing index --------------------------------------------------------------------------------


def _bump_generation() -> None:
    """Say that the site index or a page's manifest changed. A web process on this host stats this one
    file per request (statuspage/fastpath.py) rather than the site index and the manifest each; the file
    is replaced, not rewritten, so its inode changes even within one clock tick."""
    _atomic_write(_root() / GENERATION, str(time.time_ns()).encode())


def write_site_index(index: dict) -> None:
    data = json.dumps(index, sort_keys=True).encode()
    _atomic_write(_root() / "site.json", data)
    _cache_set_many({"snap:site": data})
    _bump_generation()


def read_site_index() -> dict | None:
    data = _cache_get("snap:site")
    if data is None:
        try:
            data = (_root() / "site.json").read_bytes()
        except FileNotFoundError:
            return None
    return json.loads(data)


# --- Page documents -------------------------------------------------------------------------------


def read_manifest(page_code: str) -> dict | None:
    data = _cache_get(f"snap:{page_code}:manifest")
    if data is None:
        try:
            data = (_root() / page_code / "manifest.json").read_bytes()
        except FileNotFoundError:
            return None
    return json.loads(data)


def write_version(page_code: str, manifest: dict, documents: dict[str, Document]) -> bool:
    """Store a whole publish and point the manifest at it, unless a newer version is already live.

    Returns whether this version became live. Versions are the time rendering began, so of two publishes
    racing, the one that read the newer state wins whichever finishes last.
    """
    version = manifest["version"]
    page_dir = _root() / page_code
    page_dir.mkdir(parents=True, exist_ok=True)
    for name, doc in documents.items():
        _atomic_write(page_dir / str(version) / _safe(name), doc.pack())
    with open(page_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_manifest_from_disk(page_code)
        if current is not None and current["version"] > version:
            shutil.rmtree(page_dir / str(version), ignore_errors=True)
            return False
        data = json.dumps(manifest, sort_keys=True).encode()
        _cache_set_many(
            {f"snap:{page_code}:{version}:{name}": doc.pack() for name, doc in documents.items()}
            | {f"snap:{page_code}:manifest": data}
        )
        _atomic_write(page_dir / "manifest.json", data)
        _bump_generation()
        # Keep the previous version for requests that read the old manifest a moment ago.
        for old in sorted(
            (p for p in page_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
        ):
            if int(old.name) < version and current is not None and int(old.name) != current["version"]:
                shutil.rmtree(old, ignore_errors=True)
    return True


def read_manifest_from_disk(page_code: str) -> dict | None:
    try:
        return json.loads((_root() / page_code / "manifest.json").read_bytes())
    except FileNotFoundError:
        return None


def read_document(page_code: str, version: int, name: str) -> Document | None:
    key = (page_code, version, name)
    doc = memory.get(key)
    if doc is not None:
        return doc
    blob = _cache_get(f"snap:{page_code}:{version}:{name}")
    if blob is None:
        try:
            blob = (_root() / page_code / str(version) / _safe(name)).read_bytes()
        except FileNotFoundError:
            return None
    doc = Document.unpack(blob)
    memory.put(key, doc)
    return doc


def write_document(page_code: str, version: int, name: str, doc: Document) -> None:
    """Add a document rendered on demand (an old incident, a later history page) to a live version."""
    _atomic_write(_root() / page_code / str(version) / _safe(name), doc.pack())
    _cache_set_many({f"snap:{page_code}:{version}:{name}": doc.pack()})
    memory.put((page_code, version, name), doc)


def drop_page(page_code: str) -> None:
    shutil.rmtree(_root() / page_code, ignore_errors=True)
    try:
        cache.delete(f"snap:{page_code}:manifest")
    except Exception:
        log.warning("snapshot cache unavailable for delete", exc_info=True)
