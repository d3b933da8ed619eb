"""Unbounce form webhooks: a form post with page_id, page_url, page_name, variant and the form's fields as a JSON
text in `data.json` (and XML in `data.xml`), where every value is an array and field names are lower case with
underscores. https://documentation.unbounce.com/hc/en-us/articles/203510044-Using-a-Webhook"""

from __future__ import annotations

from l2i.adapters import Adapted, AdapterError, load_json, unwrap

NAME = "unbounce"


def recognizes(body: dict) -> bool:
    return "data.json" in body and ("page_url" in body or "page_id" in body)


def adapt(body: dict) -> Adapted:
    data = load_json(body.get("data.json"), "data.json")
    if not isinstance(data, dict):
        raise AdapterError("data.json must be a JSON object")
    fields = {key: unwrap(value) for key, value in data.items()}
    page_url = unwrap(body.get("page_url"))
    if page_url:
        fields.setdefault("landing_page", page_url)
        fields.setdefault("source_url", page_url)
    for key in ("page_id", "page_name", "variant"):
        if key in body:
            fields.setdefault(f"unbounce_{key}", unwrap(body[key]))
    return Adapted(fields, documents=[data])
