"""The snapshot store: versions, races between publishes, and serving from disk when the cache is gone."""

from datetime import UTC

import pytest
from django.core.cache import cache

from statuspage import publishing, snapshots
from statuspage.snapshots import Document
from statuspage.tasks import publish_page_task, refresh_stale_snapshots_task
from tests.conftest import json_roundtrip


def doc(text):
    return Document.make(text, "text/plain", 0.0)


def test_an_older_render_finishing_last_does_not_replace_a_newer_one(settings, tmp_path):
    assert snapshots.write_version("p1", {"version": 20}, {"index.html": doc("new")})
    assert not snapshots.write_version("p1", {"version": 10}, {"index.html": doc("old")})
    manifest = snapshots.read_manifest("p1")
    assert manifest["version"] == 20
    assert snapshots.read_document("p1", 20, "index.html").body == b"new"
    assert not (settings.SNAPSHOT_DIR / "p1" / "10").exists()


def test_old_versions_are_pruned_but_the_previous_one_is_kept_for_readers_in_flight(settings):
    for version in (1, 2, 3):
        snapshots.write_version("p1", {"version": version}, {"index.html": doc(str(version))})
    kept = sorted(p.name for p in (settings.SNAPSHOT_DIR / "p1").iterdir() if p.is_dir())
    assert kept == ["2", "3"]


def test_documents_are_served_from_disk_when_the_cache_has_lost_them(settings):
    snapshots.write_version("p1", {"version": 5}, {"index.html": doc("hello")})
    cache.clear()
    snapshots.memory.clear()
    assert snapshots.read_manifest("p1")["version"] == 5
    assert snapshots.read_document("p1", 5, "index.html").body == b"hello"


def test_documents_are_served_from_the_cache_when_the_disk_copy_is_gone(settings):
    import shutil

    snapshots.write_version("p1", {"version": 5}, {"index.html": doc("hello")})
    snapshots.memory.clear()
    shutil.rmtree(settings.SNAPSHOT_DIR)
    assert snapshots.read_document("p1", 5, "index.html").body == b"hello"


def test_document_round_trips_with_its_headers():
    d = Document.make("héllo", "text/html; charset=utf-8", 1234.5)
    back = Document.unpack(d.pack())
    assert back == d
    assert d.etag.startswith('"') and d.etag.endswith('"')


@pytest.mark.django_db
def test_publish_task_takes_json_arguments_and_writes_a_new_version(page):
    (page_id,) = json_roundtrip(page.pk)
    publish_page_task(page_id)
    first = snapshots.read_manifest(page.code)["version"]
    publish_page_task(page_id)
    assert snapshots.read_manifest(page.code)["version"] > first


@pytest.mark.django_db
def test_publish_of_a_deleted_page_only_refreshes_the_routing_index(page, other_page):
    publish_page_task(page.pk)
    assert snapshots.read_site_index()["slugs"].keys() == {"acme", "globex"}
    pk = other_page.pk
    other_page.delete()
    assert publish_page_task(pk) is None
    assert snapshots.read_site_index()["slugs"].keys() == {"acme"}
    assert snapshots.read_site_index()["single"] == page.code


@pytest.mark.django_db
def test_refresh_task_publishes_pages_that_have_no_snapshot(page, other_page):
    refresh_stale_snapshots_task()
    assert snapshots.read_manifest(page.code) is not None
    assert snapshots.read_manifest(other_page.code) is not None
    assert publishing.refresh_stale_snapshots() == []


@pytest.mark.django_db
def test_a_publish_queued_before_the_live_render_began_is_folded_into_it(page):
    # Under a burst of writes each commit queues a publish; one whose change the live version already
    # read has nothing to add, so the queue cannot grow by a render per write.
    from datetime import datetime

    import time_machine

    began = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    began_us = int(began.timestamp() * 1_000_000)
    with time_machine.travel(began, tick=False):
        publish_page_task(page.pk)
        live = snapshots.read_manifest(page.code)["version"]
        publish_page_task(*json_roundtrip(page.pk, began_us - 1))  # committed before that render read
        assert snapshots.read_manifest(page.code)["version"] == live
        publish_page_task(page.pk, began_us)  # committed in the same microsecond: not provably seen
        assert snapshots.read_manifest(page.code)["version"] > live


@pytest.mark.django_db(transaction=True)
def test_a_command_queues_its_publish_with_the_moment_it_committed(page, eager_tasks):
    from components.services import create_component
    from statuspage.services import SYSTEM

    before = snapshots.read_manifest(page.code)
    create_component(actor=SYSTEM, page=page, name="Brand new component")
    after = snapshots.read_manifest(page.code)
    assert after is not None and (before is None or after["version"] > before["version"])
    assert b"Brand new component" in snapshots.read_document(page.code, after["version"], "index.html").body
