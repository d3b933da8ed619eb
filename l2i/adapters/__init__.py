"""Adapters: the big senders' envelopes, unwrapped into l2i's fields.

One module per platform. Each has NAME, `recognizes(body) -> bool` (an unmistakable shape, or False) and
`adapt(body) -> Adapted`, a small pure function from the sender's decoded body to fields that l2i.fields reads
(any spelling or alias; unknown keys end in the lead's extra). Platforms that sign their requests also have
`verify(raw, headers, secret) -> bool`. Adding a platform touches one module here (and its test).

A source names its adapter (sources.adapter); without one, the body's shape may name it (recognize()).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable


class AdapterError(ValueError):
    """The body does not have the shape its adapter expects (a 400 with this message)."""


@dataclass
class Adapted:
    fields: dict[str, Any]                     # what parse_lead reads
    documents: list[dict] = field(default_factory=list)  # where mapping paths are looked up, besides the body
    test: bool = False                         # the platform marked it a test submission
    submitted_at: str | None = None            # when the platform says the person submitted (ISO 8601)


def unwrap(value: Any) -> Any:
    """A one-element list is its element (Unbounce sends every value as an array)."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def load_json(text: Any, what: str) -> Any:
    if isinstance(text, list) and len(text) == 1:
        text = text[0]
    if not isinstance(text, str):
        raise AdapterError(f"{what} must be a JSON text")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise AdapterError(f"{what} is not valid JSON: {str(exc).splitlines()[0][:200]}") from None


from l2i.adapters import facebook, flat, google, hubspot, jotform, typeform, unbounce, wpforms  # noqa: E402

MODULES = (unbounce, typeform, jotform, hubspot, facebook, google, wpforms, flat)
ADAPTERS: dict[str, Any] = {module.NAME: module for module in MODULES}
# Other names people will look for: the flat adapter serves Zapier, Make, Gravity Forms, Elementor and the
# lead platforms' flat posts (LeadConduit, boberdoo, LeadsPedia, LeadProsper), with the source's mapping.
for _alias in ("zapier", "make", "gravityforms", "elementor", "leadconduit", "boberdoo", "leadspedia",
               "leadprosper"):
    ADAPTERS[_alias] = flat
NAMES = tuple(sorted(ADAPTERS))


def recognize(body: dict) -> str | None:
    """The adapter whose platform's shape this body unmistakably has, else None."""
    for module in MODULES:
        if module.recognizes(body):
            return module.NAME
    return None


def get(name: str | None) -> Any:
    return ADAPTERS.get(name or "flat")


Verify = Callable[[bytes, Any, str], bool]
