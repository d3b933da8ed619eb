"""Google Ads lead form webhooks: JSON with lead_id, user_column_data[] of {column_id, string_value, column_name},
form_id, campaign_id, gcl_id, adgroup_id, creative_id, `google_key` (the key the advertiser set on the form, to
check) and `is_test` (a test lead sent from the Google Ads UI).
https://developers.google.com/google-ads/webhook/docs/implementation"""

from __future__ import annotations

import hmac

from l2i.adapters import Adapted, AdapterError

NAME = "google"

_COLUMNS = {"FULL_NAME": "full_name", "FIRST_NAME": "first_name", "LAST_NAME": "last_name", "EMAIL": "email",
            "PHONE_NUMBER": "phone", "POSTAL_CODE": "zip", "STREET_ADDRESS": "address1", "CITY": "city",
            "REGION": "state", "COUNTRY": "country", "WORK_EMAIL": "work_email", "WORK_PHONE": "work_phone"}


def recognizes(body: dict) -> bool:
    return isinstance(body.get("user_column_data"), list) and "google_key" in body


def verify_key(body: dict, secret: str) -> bool:
    return hmac.compare_digest(str(body.get("google_key") or "").encode(), secret.encode())


def adapt(body: dict) -> Adapted:
    fields: dict = {}
    for column in body["user_column_data"]:
        if not isinstance(column, dict):
            raise AdapterError("each of user_column_data must be an object")
        column_id = str(column.get("column_id") or "")
        key = _COLUMNS.get(column_id) or column.get("column_name") or column_id or f"column_{len(fields)}"
        fields[key] = column.get("string_value")
    if body.get("lead_id"):
        fields["external_id"] = body["lead_id"]
    if body.get("campaign_id") is not None:
        fields["utm_campaign"] = str(body["campaign_id"])
    for key in ("form_id", "gcl_id", "adgroup_id", "creative_id", "asset_group_id"):
        if body.get(key) is not None:
            fields[f"google_{key}"] = body[key]
    # google_key is a secret: checked, never kept
    return Adapted(fields, documents=[body], test=body.get("is_test") is True,
                   submitted_at=body.get("lead_submit_time"))
