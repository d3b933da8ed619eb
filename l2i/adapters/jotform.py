"""Jotform webhooks: multipart/form-data with formID, submissionID, ip, formTitle, pretty and `rawRequest`, a JSON
text of the answers keyed `q<N>_<name>`: a name as {first, last}, a phone as {full} (or {area, phone}), an address
as {addr_line1, addr_line2, city, state, postal, country}.
https://www.jotform.com/help/245-how-to-setup-a-webhook-with-jotform/ ,
https://www.jotform.com/help/51-how-to-post-submission-data-to-thank-you-page/ (the rawRequest names)"""

from __future__ import annotations

import re

from l2i.adapters import Adapted, AdapterError, load_json

NAME = "jotform"

_QUESTION = re.compile(r"^q[0-9]+_")
_ADDRESS = {"addr_line1": "address1", "addr_line2": "address2", "city": "city", "state": "state",
            "postal": "zip", "country": "country"}


def recognizes(body: dict) -> bool:
    return "rawRequest" in body and ("formID" in body or "submissionID" in body)


def adapt(body: dict) -> Adapted:
    raw = load_json(body.get("rawRequest"), "rawRequest")
    if not isinstance(raw, dict):
        raise AdapterError("rawRequest must be a JSON object")
    fields: dict = {}
    for key, value in raw.items():
        name = _QUESTION.sub("", key)
        if isinstance(value, dict) and ({"first", "last"} & value.keys()):
            fields["first_name"], fields["last_name"] = value.get("first"), value.get("last")
        elif isinstance(value, dict) and ("full" in value or "phone" in value):
            fields[name] = value.get("full") or f"{value.get('area', '')}{value.get('phone', '')}"
        elif isinstance(value, dict) and (_ADDRESS.keys() & value.keys()):
            for part, target in _ADDRESS.items():
                if value.get(part):
                    fields[target] = value[part]
        else:
            fields[name] = value
    if body.get("ip"):
        fields.setdefault("ip", body["ip"])
    if body.get("submissionID"):
        fields.setdefault("external_id", body["submissionID"])
    for key in ("formID", "formTitle"):
        if body.get(key):
            fields.setdefault(f"jotform_{key}", body[key])
    return Adapted(fields, documents=[raw])
