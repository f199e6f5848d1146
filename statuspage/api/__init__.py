"""The management REST API (`/api/v1/`), in Statuspage's shapes: a thin adapter over the same service
functions the console calls (DESIGN.md road 1)."""
