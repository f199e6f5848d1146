"""What a delivery says, rendered once per event and personalised per subscriber with plain string
replacement (links, Message-ID), so a 100,000-subscriber fan-out renders its templates once."""

from __future__ import annotations

import json
from datetime import UTC
from email.utils import formataddr, parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from components import selectors as component_selectors
from components.models import ComponentStatus
from incidents.models import Incident
from incidents.serializers import statuspage_incident
from statuspage import serializers
from statuspage.publishing import page_status
from subscribers import links
from subscribers.channels import mime
from subscribers.channels.email import EmailContent
from subscribers.channels.webhook import WebhookContent
from subscribers.models import Delivery, EventType, OutboxEvent, Subscriber, SubscriberKind, WebhookFormat

MANAGE = "%%MANAGE_URL%%"
UNSUBSCRIBE = "%%UNSUBSCRIBE_URL%%"
LINKS = (MANAGE, UNSUBSCRIBE)

HEADLINES = {
    EventType.INCIDENT_CREATED: "New incident",
    EventType.INCIDENT_UPDATED: "Incident update",
    EventType.INCIDENT_RESOLVED: "Incident resolved",
    EventType.POSTMORTEM_PUBLISHED: "Postmortem published",
    EventType.MAINTENANCE_SCHEDULED: "Maintenance scheduled",
    EventType.MAINTENANCE_REMINDER: "Maintenance starts soon",
    EventType.MAINTENANCE_STARTED: "Maintenance in progress",
    EventType.MAINTENANCE_UPDATED: "Maintenance update",
    EventType.MAINTENANCE_COMPLETED: "Maintenance completed",
    EventType.COMPONENT_UPDATED: "Component status changed",
}


def mail_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


class EventContent:
    """Everything about one event that is the same for every subscriber."""

    def __init__(self, event: OutboxEvent) -> None:
        self.event = event
        self.page = page = event.page
        self.incident: Incident | None = event.incident
        self.update = event.incident_update
        self.headline = HEADLINES.get(EventType(event.type), event.type)
        public = [c for c in component_selectors.public_components(page)]
        open_incidents = list(Incident.objects.for_page(page).open())
        self.status = page_status(
            [c.status for c in public], open_incidents, raise_for_incidents=page.incidents_raise_indicator
        )
        self._email: tuple[str, mime.Body, mime.Body] | None = None
        # The same for every subscriber: worked out here, not parsed again for each of 100,000 emails.
        self.mail_domain = mail_domain()
        self.list_id = f"{page.name} status <{page.slug}.{self.mail_domain}>"
        self.page_url = page.public_url
        self.sender = formataddr((f"{page.name} Status", parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))
        self._webhook: dict[str, dict] = {}

    # Email ------------------------------------------------------------------------------------------------

    def _email_parts(self) -> tuple[str, mime.Body, mime.Body]:
        if self._email is None:
            page, incident = self.page, self.incident
            with timezone.override(page.tz):
                context = {
                    "page": page,
                    "event": self.event,
                    "headline": self.headline,
                    "incident": incident,
                    "update": self.update,
                    "postmortem": getattr(incident, "published_postmortem", None) if incident else None,
                    # Public components only: internal ones (a cache, a queue) are never named to subscribers.
                    "components": list(incident.components.public()) if incident else [],
                    "incident_url": f"{page.public_url}incidents/{incident.code}"
                    if incident
                    else page.public_url,
                    "logo_url": f"{settings.SITE_URL}{page.logo.url}" if page.logo else "",
                    "manage_url": MANAGE,
                    "unsubscribe_url": UNSUBSCRIBE,
                }
                text = render_to_string("email/notification.txt", context)
                html = render_to_string("email/notification.html", context)
            name = incident.name if incident else page.name
            subject = f"[{page.name}] {name}"
            # Encoded for the wire once; each email encodes only its lines with the subscriber's links.
            self._email = (subject, mime.Body(text, LINKS), mime.Body(html, LINKS))
        return self._email

    def email(self, delivery: Delivery, subscriber: Subscriber) -> EmailContent:
        subject, text, html = self._email_parts()
        domain = self.mail_domain
        page_url = self.page_url
        manage = links.url(subscriber, "manage", page_url=page_url)
        unsubscribe = links.url(subscriber, "unsubscribe", page_url=page_url)
        values = {MANAGE: manage, UNSUBSCRIBE: unsubscribe}
        message_id = f"<{self.event.code}.{subscriber.code}@{domain}>"
        headers = {
            "Message-ID": message_id,
            "List-Id": self.list_id,
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-Status-Event": self.event.type,
        }
        if self.incident is not None:
            # Every email about one incident threads under the first one this subscriber got of it.
            root = f"<incident.{self.incident.code}.{subscriber.code}@{domain}>"
            if self.event.type in (EventType.INCIDENT_CREATED, EventType.MAINTENANCE_SCHEDULED):
                headers["Message-ID"] = root
            else:
                headers["In-Reply-To"] = root
                headers["References"] = root
        return EmailContent(
            subject=subject,
            text=text.fill(values),
            html=html.fill(values),
            from_email=self.sender,
            to=subscriber.email,
            headers=headers,
            encoded=(text.encode(values), html.encode(values)),
        )

    # Webhooks ---------------------------------------------------------------------------------------------

    def statuspage_payload(self) -> dict:
        """Statuspage's webhook shape (STATUSPAGE.md section 3), without `meta.unsubscribe`."""
        if "statuspage" not in self._webhook:
            page, tz = self.page, self.page.tz
            doc: dict = {
                "meta": {
                    "documentation": f"{settings.SITE_URL}/docs/webhooks",
                    "generated_at": timezone.now()
                    .astimezone(UTC)
                    .isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
                },
                "page": {
                    "id": page.code,
                    "status_indicator": self.status.indicator,
                    "status_description": self.status.description,
                },
            }
            if self.event.type == EventType.COMPONENT_UPDATED and self.event.component is not None:
                component = self.event.component
                data = self.event.data
                doc["component"] = serializers.component_v2(component, page)
                doc["component_update"] = {
                    "old_status": data.get("old_status"),
                    "new_status": data.get("new_status", component.status),
                    "created_at": serializers.timestamp(self.event.created_at, tz),
                    "component_type": "Component",
                    "id": f"{self.event.code}",
                    "component_id": component.code,
                }
            elif self.incident is not None:
                incident = statuspage_incident(self.incident)
                for update in incident["incident_updates"]:
                    update["wants_twitter_update"] = False
                    update["twitter_updated_at"] = None
                if self.update is not None:
                    # The update that triggered the webhook comes first, as Statuspage sends it.
                    incident["incident_updates"].sort(key=lambda u: u["id"] != self.update.code)
                doc["incident"] = incident
            self._webhook["statuspage"] = doc
        return self._webhook["statuspage"]

    def chat_summary(self) -> tuple[str, str, str]:
        """(title, text, link) for the chat formats."""
        page = self.page
        if self.event.type == EventType.COMPONENT_UPDATED and self.event.component is not None:
            c, data = self.event.component, self.event.data
            labels = dict(ComponentStatus.choices)
            old = labels.get(data.get("old_status", ""), "")
            new = labels.get(data.get("new_status", c.status), c.status)
            return (
                f"{c.name}: {new}",
                f"{c.name} changed from {old} to {new}." if old else new,
                page.public_url,
            )
        incident = self.incident
        link = f"{page.public_url}incidents/{incident.code}"
        if self.event.type == EventType.POSTMORTEM_PUBLISHED:
            return (f"Postmortem: {incident.name}", "A postmortem has been published.", link)
        body = self.update.body if self.update else ""
        status = self.update.status_label if self.update else incident.status_label
        return (f"{incident.name}", f"*{status}* — {body}", link)

    def webhook(self, delivery: Delivery, subscriber: Subscriber) -> WebhookContent:
        fmt = subscriber.webhook_format or WebhookFormat.STATUSPAGE
        if fmt == WebhookFormat.STATUSPAGE:
            doc = self.statuspage_payload()
            unsubscribe = links.url(subscriber, "unsubscribe", page_url=self.page_url)
            doc = {**doc, "meta": {"unsubscribe": unsubscribe, **doc["meta"]}}
        else:
            from subscribers.channels import formats

            title, text, link = self.chat_summary()
            doc = formats.render(
                fmt, page=self.page, title=title, text=text, link=link, indicator=self.status.indicator
            )
        return WebhookContent(
            url=subscriber.endpoint,
            body=json.dumps(doc, separators=(",", ":")).encode(),
            secret=subscriber.secret,
            event_type=self.event.type,
            delivery_id=f"{self.event.code}-{subscriber.code}",
        )

    def for_subscriber(self, delivery: Delivery, subscriber: Subscriber):
        if subscriber.kind == SubscriberKind.EMAIL:
            return self.email(delivery, subscriber)
        return self.webhook(delivery, subscriber)
