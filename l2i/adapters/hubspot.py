"""HubSpot workflow webhooks ("Send a webhook" with all contact properties): the contact as HubSpot's contact
JSON, {"vid", "canonical-vid", "portal-id", "properties": {"<name>": {"value": ..., "versions": [...]}}}; HubSpot's
property names (firstname, lastname, phone, mobilephone, email, state, zip, hs_analytics_source, ...).
https://knowledge.hubspot.com/workflows/how-do-i-use-webhooks-with-hubspot-workflows ,
https://legacydocs.hubspot.com/docs/methods/contacts/get_contact_by_email (the contact JSON)"""

from __future__ import annotations

from l2i.adapters import Adapted

NAME = "hubspot"

# HubSpot's own property names for attribution and consent, to l2i's fields.
_RENAME = {"hs_analytics_source": "utm_source", "hs_analytics_source_data_1": "utm_campaign",
           "hs_analytics_source_data_2": "utm_term", "hs_analytics_first_url": "landing_page",
           "hs_analytics_first_referrer": "referrer", "ip_address": "ip"}


def _properties(body: dict) -> dict | None:
    properties = body.get("properties")
    if isinstance(properties, dict) and properties and all(
            isinstance(v, dict) and "value" in v for v in properties.values()):
        return properties
    return None


def recognizes(body: dict) -> bool:
    return _properties(body) is not None and any(k in body for k in ("vid", "canonical-vid", "portal-id"))


def adapt(body: dict) -> Adapted:
    properties = _properties(body) or {}
    fields = {_RENAME.get(name, name): prop["value"] for name, prop in properties.items()}
    vid = body.get("canonical-vid") or body.get("vid")
    if vid is not None:
        fields.setdefault("external_id", str(vid))
    return Adapted(fields, documents=[body])
