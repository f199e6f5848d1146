"""Chat tools' incoming-webhook formats: the same event, rendered natively for Slack (Block Kit), Microsoft
Teams (an Adaptive Card in a message) and Discord (an embed)."""

from __future__ import annotations

from statuspage.models import Page

# The page indicator's colour, as the public page shows it.
COLOURS = {
    "none": "#2da44e",
    "minor": "#d4a72c",
    "major": "#e16f24",
    "critical": "#cf222e",
    "maintenance": "#1f6feb",
}


def render(fmt: str, *, page: Page, title: str, text: str, link: str, indicator: str) -> dict:
    colour = COLOURS.get(indicator, "#57606a")
    heading = f"{page.name}: {title}"
    if fmt == "slack":
        return {
            # The notification preview and non-Block clients; mrkdwn too, so escaped like the blocks.
            "text": f"{_slack(heading)}\n{_slack(text)}\n{link}",
            "attachments": [
                {
                    "color": colour,
                    "blocks": [
                        {
                            "type": "section",
                            "text": {"type": "mrkdwn", "text": f"*<{link}|{_slack(heading)}>*"},
                        },
                        {"type": "section", "text": {"type": "mrkdwn", "text": _slack(text)[:2900]}},
                        {
                            "type": "context",
                            "elements": [
                                {"type": "mrkdwn", "text": f"<{page.public_url}|{_slack(page.name)} status>"}
                            ],
                        },
                    ],
                }
            ],
        }
    if fmt == "teams":
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {
                                "type": "TextBlock",
                                "text": heading,
                                "weight": "Bolder",
                                "size": "Medium",
                                "wrap": True,
                            },
                            {"type": "TextBlock", "text": text, "wrap": True},
                        ],
                        "actions": [
                            {"type": "Action.OpenUrl", "title": "View on the status page", "url": link}
                        ],
                    },
                }
            ],
        }
    if fmt == "discord":
        return {
            "username": f"{page.name} Status"[:80],
            "embeds": [
                {
                    "title": heading[:256],
                    "description": text[:4000],
                    "url": link,
                    "color": int(colour.lstrip("#"), 16),
                }
            ],
            "allowed_mentions": {"parse": []},  # never ping @everyone from an update's text
        }
    raise ValueError(f"unknown webhook format {fmt!r}")


def _slack(text: str) -> str:
    """Slack's mrkdwn needs &, < and > escaped, or a message could forge links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
