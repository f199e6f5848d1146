"""Load the demo page once; a second run keeps its data (--reset builds it again)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from statuspage import demo, publishing
from statuspage.models import Page


class Command(BaseCommand):
    help = "Load the demo status page built from real incident reports (once)."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="delete the demo page and build it again")

    def handle(self, *args, reset: bool, **options):
        existing = Page.objects.filter(slug=demo.SLUG).first()
        if existing and not reset:
            self.stdout.write(f"Demo page already loaded at {existing.public_url}")
            return
        if existing:
            with transaction.atomic():
                existing.delete()
            self.stdout.write("Deleted the old demo page.")
        page = demo.build()
        # Publish now, so the page is there even before a worker runs.
        publishing.publish_page(page.pk)
        incidents = page.incidents.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the demo page with {incidents} incidents and maintenances: {page.public_url}"
            )
        )
