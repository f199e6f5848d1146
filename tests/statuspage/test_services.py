import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from statuspage.models import AuditEvent, Membership, Page
from statuspage.services import SYSTEM, Actor, add_member, create_page, update_page


@pytest.mark.django_db
def test_create_page_validates_every_field_and_writes_nothing_on_error():
    with pytest.raises(ValidationError) as err:
        create_page(
            actor=SYSTEM,
            name="",
            slug="Not A Slug",
            time_zone="Mars/Olympus",
            custom_domain="http://x",
            brand_colour="red",
        )
    assert {"name", "slug", "time_zone", "custom_domain", "brand_colour"} <= set(err.value.message_dict)
    assert not Page.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_reserved_and_duplicate_slugs_are_refused(page):
    with pytest.raises(ValidationError) as err:
        create_page(actor=SYSTEM, name="x", slug="admin")
    assert "slug" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        create_page(actor=SYSTEM, name="x", slug=page.slug)
    assert "slug" in err.value.message_dict


@pytest.mark.django_db
def test_owner_is_made_a_member_and_roles_can_change():
    user = User.objects.create_user("ic", "ic@example.com", "pw")
    page = create_page(actor=Actor.of(user), name="x", slug="x", owner=user)
    assert Membership.objects.get(page=page, user=user).role == "owner"
    add_member(actor=SYSTEM, page=page, user=user, role="viewer")
    assert Membership.objects.get(page=page, user=user).role == "viewer"
    assert list(Page.objects.for_user(user)) == [page]
    with pytest.raises(ValidationError):
        add_member(actor=SYSTEM, page=page, user=user, role="god")


@pytest.mark.django_db
def test_update_page_audits_only_what_changed(page):
    update_page(actor=SYSTEM, page=page, name="Acme Cloud", time_zone=page.time_zone)
    row = AuditEvent.objects.get(page=page, action="page.updated")
    assert row.before == {"name": "Acme"} and row.after == {"name": "Acme Cloud"}
    update_page(actor=SYSTEM, page=page, name="Acme Cloud")
    assert AuditEvent.objects.filter(page=page, action="page.updated").count() == 1
    with pytest.raises(ValidationError):
        update_page(actor=SYSTEM, page=page, update_cadence_minutes=0)


@pytest.mark.django_db
def test_one_transaction_enqueues_one_publish_per_page(
    page, other_page, setup_committed, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from components.services import create_component
    from statuspage.services import schedule_publish

    setup_committed()
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        for i in range(5):
            create_component(actor=SYSTEM, page=page, name=f"C{i}")
        schedule_publish(other_page)
    assert sorted(cb.publishes_page for cb in callbacks) == sorted([page.pk, other_page.pk])


@pytest.mark.django_db
def test_a_rolled_back_savepoint_does_not_swallow_the_next_publish(
    page, setup_committed, django_capture_on_commit_callbacks
):
    from django.db import transaction

    from statuspage.services import schedule_publish

    setup_committed()
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        try:
            with transaction.atomic():
                schedule_publish(page)
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        schedule_publish(page)
    assert [cb.publishes_page for cb in callbacks if hasattr(cb, "publishes_page")] == [page.pk]
