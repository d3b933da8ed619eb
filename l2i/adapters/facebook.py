"""Facebook Lead Ads. The webhook (object "page", entry[].changes[] with field "leadgen") only names the lead:
value.leadgen_id, form_id, page_id, ad_id, created_time. The lead itself is read from the Graph API,
GET /{leadgen_id}?access_token=<page token>, as {id, created_time, field_data: [{name, values: [...]}], ...}.
Webhook set-up: a GET with hub.mode=subscribe, hub.verify_token and hub.challenge (echo the challenge), and every
POST signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the app secret>`.
https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving ,
https://developers.facebook.com/docs/graph-api/webhooks/getting-started"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.error
import urllib.parse
import urllib.request

from l2i.adapters import Adapted, AdapterError

NAME = "facebook"
_LEADGEN_ID = re.compile(r"^[0-9]{1,30}$")


def recognizes(body: dict) -> bool:
    return body.get("object") == "page" and isinstance(body.get("entry"), list)


def verify(raw: bytes, headers, secret: str) -> bool:
    given = headers.get("X-HUB-SIGNATURE-256") or ""
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given.encode(), expected.encode())


def notices(body: dict) -> list[dict]:
    """The leadgen notices of a webhook body: [{leadgen_id, form_id, page_id, ad_id, created_time}, ...]."""
    found = []
    for entry in body.get("entry") or []:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            if isinstance(change, dict) and change.get("field") == "leadgen" and isinstance(change.get("value"), dict):
                value = change["value"]
                leadgen_id = str(value.get("leadgen_id", ""))
                if not _LEADGEN_ID.match(leadgen_id):
                    raise AdapterError("leadgen_id must be digits")
                found.append({**value, "leadgen_id": leadgen_id})
    return found


class GraphError(Exception):
    """The Graph API did not give the lead (down, slow, refused): the lead waits for a retry."""


def fetch(base_url: str, leadgen_id: str, page_token: str, timeout_s: float) -> dict:
    """The lead from the Graph API. Errors never carry the URL (the page token is in it)."""
    if not _LEADGEN_ID.match(leadgen_id):
        raise GraphError("leadgen_id must be digits")
    url = f"{base_url.rstrip('/')}/{leadgen_id}?" + urllib.parse.urlencode({"access_token": page_token})
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            lead = json.loads(answer.read(1 << 20))
    except urllib.error.HTTPError as exc:
        raise GraphError(f"Graph API answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise GraphError(f"Graph API unreachable: {type(getattr(exc, 'reason', exc)).__name__}") from None
    except ValueError:
        raise GraphError("Graph API answer is not JSON") from None
    if not isinstance(lead, dict) or not isinstance(lead.get("field_data"), list):
        raise GraphError("Graph API answer has no field_data")
    return lead


def adapt(lead: dict) -> Adapted:
    """The Graph API's lead (not the webhook body) to l2i's fields."""
    fields: dict = {}
    for item in lead.get("field_data") or []:
        if isinstance(item, dict) and item.get("name"):
            values = item.get("values") or []
            fields[str(item["name"])] = values[0] if len(values) == 1 else values
    if lead.get("id"):
        fields["external_id"] = str(lead["id"])
    for key in ("ad_id", "form_id", "campaign_id", "adset_id", "platform"):
        if lead.get(key) is not None:
            fields[f"facebook_{key}"] = lead[key]
    if lead.get("campaign_name"):
        fields.setdefault("utm_campaign", lead["campaign_name"])
    disclaimers = lead.get("custom_disclaimer_responses")
    if isinstance(disclaimers, list):
        fields["facebook_custom_disclaimer_responses"] = disclaimers
    created = lead.get("created_time")
    return Adapted(fields, documents=[lead], submitted_at=_iso(created) if created else None)


def _iso(created: str) -> str:
    """Graph's 2015-11-12T15:27:06+0000 as ISO 8601 that datetime.fromisoformat reads (+00:00)."""
    return re.sub(r"([+-][0-9]{2})([0-9]{2})$", r"\1:\2", str(created))
