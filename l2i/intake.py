"""The intake pipeline: what happens to one validated lead, in one call to the database.

Before the database: consent evidence (fail closed) and whether the number is a US one. In the database, in
one transaction (sql/queries/leads.sql, lead_intake, which calls l2i_lead_intake): the campaign and its checks,
suppression, the 30-day dedupe, the calling window (of the address state and the area code's state, within the
campaign's hours), the attempt caps, the campaign's daily cap and the dial queue.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from psycopg.types.json import Jsonb

from l2i import sql
from l2i.errors import FieldError
from l2i.fields import LeadInput, ValidationError, parse_timestamp
from l2i.states import ALL_US_ZONES

_REFUSED = {
    "required": ("required", "No matching campaign: this account has campaigns, so a lead must name one "
                             "(campaign, category, campaign_code or campaign_id)."),
    "unknown": ("unknown", "No matching campaign: {sent!r} is not a campaign of this account."),
    "inactive": ("inactive", "No matching campaign: {sent!r} is not active."),
}


class CampaignRefused(ValidationError):
    """The lead's campaign refused it (nothing was stored): no, unknown or inactive campaign, or missing fields
    the campaign requires. Its errors name the fields, as any validation error does."""


def consent_gate(consent: dict[str, Any], now: datetime) -> tuple[list[str], dict[str, Any]]:
    """Reasons to hold the lead for its consent, and what the gate saw. Consent evidence is at least a
    consent_timestamp that parses and is not in the future, and a consent_text_version."""
    missing = [name for name in ("consent_timestamp", "consent_text_version") if not consent.get(name)]
    if missing:
        return ["missing_consent"], {"ok": False, "reason": "missing_consent", "missing": missing}
    given_at = parse_timestamp(str(consent["consent_timestamp"]))
    if given_at is None:
        return ["invalid_consent"], {"ok": False, "reason": "invalid_consent",
                                     "detail": "consent_timestamp is not an ISO 8601 time or Unix seconds"}
    if given_at > now:
        return ["invalid_consent"], {"ok": False, "reason": "invalid_consent",
                                     "detail": "consent_timestamp is in the future"}
    consent["consent_timestamp"] = given_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return [], {"ok": True, "consent_timestamp": consent["consent_timestamp"]}


def submit(conn, *, lead: LeadInput, test: bool = False, **given: Any) -> dict[str, Any]:
    """Store (or find the duplicate of) one lead: intake_params() says what it takes. Returns id, status, reasons,
    created, not_before and campaign. Raises CampaignRefused (nothing stored). test: run every gate in a
    transaction that is rolled back, so nothing is stored (a platform's "send test" button)."""
    params = intake_params(lead=lead, **given)
    if test:
        with conn.transaction(force_rollback=True):
            return _intake(conn, params, lead)
    return _intake(conn, params, lead)


def send(conn, params: dict):
    """Sends one lead_intake with intake_params(); the cursor its row comes back on (for outcome()). Inside
    conn.pipeline(), without waiting: a CSV import sends a whole batch in one round trip."""
    return conn.execute(sql.QUERIES["lead_intake"].text, params)


def intake_params(*, account_id, api_key_id, lead: LeadInput, hold: tuple[str, ...] = (), source_id=None,
                  consent_origin: dict | None = None, default_campaign_id=None, now: datetime | None = None,
                  client_ip: str | None = None) -> dict[str, Any]:
    """lead_intake's parameters for one lead. `hold`: reasons the caller already has to hold the lead (a CSV
    row's do-not-call column: do_not_call). source_id: the intake source it came through; consent_origin: where
    each consent value came from when a source's consent-on-submit filled some (recorded in
    gates.consent.origin). default_campaign_id: the key's default campaign, for a lead that names none. (A
    source's default campaign is a default like any other: sources.apply_defaults puts it in lead.campaign, which
    wins over this.) now: the instant the gates decide at (None: the database clock, as the service runs).
    client_ip: the address the lead was posted from (a browser posting its own form); it becomes consent.ip when
    the lead has consent evidence without an ip, and gates.consent.ip_from says so."""
    phone = lead.phone
    reasons, consent = consent_gate(lead.consent, datetime.now(timezone.utc))
    reasons = [*hold, *reasons]
    if consent_origin:
        consent["origin"] = consent_origin
    if client_ip and lead.consent and not lead.consent.get("ip"):
        lead.consent["ip"] = client_ip
        consent["ip_from"] = "client_address"
    if not phone.us:
        reasons.append("not_us_number")
    # Every state whose rules apply: the address state and the area code's state (FL, OK, CT and OR presume a
    # number with their area code is in-state); the window is the strictest of them, in every zone of each.
    states = list(dict.fromkeys(s for s in (lead.columns["state"], phone.area_state) if s))
    area_zones = list(phone.area_zones)
    if phone.us and not area_zones and not states:
        area_zones = list(ALL_US_ZONES)  # an area code that names no place: every US zone (fail safe)
    params = {
        **lead.columns,
        "account_id": account_id,
        "api_key_id": api_key_id,
        "source_id": source_id,
        "now": now,
        "phone": phone.e164,
        "area_zones": area_zones,
        "states": states,
        "reasons": reasons,
        "campaign": lead.campaign,
        "default_campaign_id": default_campaign_id,
        "present": lead.present(),
        "priority": lead.dialing.get("priority") or 0,
        "expires_in": lead.dialing.get("expires_in"),
        "consent": Jsonb(lead.consent) if lead.consent else None,
        "custom": Jsonb(lead.custom),
        "extra": Jsonb(lead.extra),
        "gates": Jsonb({
            "phone": {"e164": phone.e164, "region": phone.region, "us": phone.us,
                      "area_state": phone.area_state},
            "consent": consent,
        }),
    }
    return params


def _intake(conn, params: dict, lead: LeadInput) -> dict[str, Any]:
    return outcome(send(conn, params).fetchone(), lead)


def outcome(row: dict, lead: LeadInput) -> dict[str, Any]:
    """lead_intake's row for the lead; raises CampaignRefused when its campaign refused it (nothing stored)."""
    if row["refused"] is not None:
        raise CampaignRefused(refusal(row, lead))
    return row


def refusal(row: dict, lead: LeadInput) -> list[FieldError]:
    """The 422's field errors for a lead its campaign refused."""
    if row["refused"] == "missing_fields":
        return [FieldError(name, "required", "is required by this lead's campaign") for name in row["missing"]]
    code, message = _REFUSED[row["refused"]]
    if lead.campaign is None:
        if row["refused"] == "inactive":
            message = "No matching campaign: the default campaign of this key is not active."
        return [FieldError("campaign", code, message)]
    return [FieldError(lead.campaign_field, code, message.format(sent=lead.campaign))]
