"""Typeform webhooks: `form_response` with `answers[]`, each with its `type`, the value under that type's key
(text, email, phone_number, number, boolean, date, url, choice.label, choices.labels) and the question as
`field` {id, type, ref}; hidden fields in `hidden`; signed with `Typeform-Signature: sha256=<base64 HMAC-SHA256
of the body>` when the webhook has a secret.
https://www.typeform.com/developers/webhooks/example-payload/
https://www.typeform.com/developers/webhooks/secure-your-webhooks/"""

from __future__ import annotations

import base64
import hashlib
import hmac

from l2i.adapters import Adapted, AdapterError
from l2i.fields import lookup

NAME = "typeform"

# An answer whose question's ref is no l2i field still lands in a named field by its type.
_BY_TYPE = {"email": "email", "phone_number": "phone"}


def recognizes(body: dict) -> bool:
    response = body.get("form_response")
    return isinstance(response, dict) and isinstance(response.get("answers"), list)


def verify(raw: bytes, headers, secret: str) -> bool:
    given = headers.get("TYPEFORM-SIGNATURE") or ""
    expected = "sha256=" + base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(given.encode(), expected.encode())


def _value(answer: dict):
    kind = answer.get("type")
    value = answer.get(kind)
    if kind == "choice" and isinstance(value, dict):
        return value.get("label") or value.get("other")
    if kind == "choices" and isinstance(value, dict):
        return ", ".join([*value.get("labels", []), *([value["other"]] if value.get("other") else [])])
    return value


def adapt(body: dict) -> Adapted:
    response = body["form_response"]
    fields: dict = {}
    for answer in response["answers"]:
        if not isinstance(answer, dict) or not isinstance(answer.get("field"), dict):
            raise AdapterError("each of form_response.answers must be an object with a field")
        question = answer["field"]
        ref = str(question.get("ref") or question.get("id") or "")
        value = _value(answer)
        if ref and lookup(ref) is not None:
            fields[ref] = value
        elif _BY_TYPE.get(answer.get("type")) and _BY_TYPE[answer["type"]] not in fields:
            fields[_BY_TYPE[answer["type"]]] = value
            if ref:
                fields[f"typeform_{ref}"] = value
        else:
            fields[ref or f"answer_{len(fields)}"] = value
    hidden = response.get("hidden")
    if isinstance(hidden, dict):
        for key, value in hidden.items():
            fields.setdefault(key, value)
    metadata = response.get("metadata")
    if isinstance(metadata, dict):
        if metadata.get("user_agent"):
            fields.setdefault("user_agent", metadata["user_agent"])
        if metadata.get("referer"):
            fields.setdefault("landing_page", metadata["referer"])
            fields.setdefault("source_url", metadata["referer"])
    if response.get("token"):
        fields.setdefault("external_id", response["token"])
    if response.get("form_id"):
        fields.setdefault("typeform_form_id", response["form_id"])
    return Adapted(fields, documents=[response], submitted_at=response.get("submitted_at"))
