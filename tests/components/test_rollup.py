import pytest

from components.selectors import rollup
from incidents.services import create_incident
from statuspage.publishing import page_status
from statuspage.services import SYSTEM

O, D, P, M, U = "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"  # noqa: E741


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], ("none", "All Systems Operational")),
        ([O, O, O], ("none", "All Systems Operational")),
        ([M, M], ("critical", "Major System Outage")),
        ([M], ("critical", "Major System Outage")),
        ([M, O], ("major", "Partial System Outage")),
        ([M, P, D], ("major", "Partial System Outage")),
        ([P, P], ("major", "Partial System Outage")),
        ([P], ("major", "Partial System Outage")),
        ([P, O], ("minor", "Minor Service Outage")),
        ([P, D, U], ("minor", "Minor Service Outage")),
        ([D, D], ("minor", "Degraded System Service")),
        ([D], ("minor", "Degraded System Service")),
        ([D, O], ("minor", "Partially Degraded Service")),
        ([D, U], ("minor", "Partially Degraded Service")),
        ([U, O], ("maintenance", "Service Under Maintenance")),
        ([U], ("maintenance", "Service Under Maintenance")),
    ],
)
def test_rollup_follows_statuspage_rules_in_order(statuses, expected):
    assert rollup(statuses) == expected


@pytest.mark.django_db
def test_open_incident_raises_a_green_page_to_its_impact(page, make_component):
    api = make_component(page, "API")
    incident = create_incident(actor=SYSTEM, page=page, name="Errors", body="Looking", components={api: M})
    # The component went back to operational while the incident stays open.
    from components.services import set_component_status

    set_component_status(actor=SYSTEM, component=api, status=O)
    incident.refresh_from_db()
    assert incident.impact == "critical"
    status = page_status([O], [incident], raise_for_incidents=True)
    assert (status.indicator, status.description) == ("critical", "Major System Outage")
    plain = page_status([O], [incident], raise_for_incidents=False)
    assert plain.indicator == "none"


@pytest.mark.django_db
def test_open_incident_without_impact_is_never_shown_as_all_operational(page):
    incident = create_incident(actor=SYSTEM, page=page, name="Reports of slow logins", body="Looking into it")
    assert incident.effective_impact == "none"
    status = page_status([O], [incident], raise_for_incidents=True)
    assert status.indicator == "minor"
    assert status.description != "All Systems Operational"


@pytest.mark.django_db
def test_incident_does_not_lower_a_worse_component_state(page, make_component):
    incident = create_incident(actor=SYSTEM, page=page, name="Minor", body="x", impact_override="minor")
    status = page_status([M, M], [incident], raise_for_incidents=True)
    assert status.indicator == "critical"
