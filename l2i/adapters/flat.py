"""Flat posts, JSON or form, as sent by Zapier and Make webhooks, WordPress form plugins (Gravity Forms, Elementor:
their input ids or labels are mapped by the source's mapping; WPForms has its own module) and lead platforms
(LeadConduit, boberdoo, LeadsPedia, LeadProsper: their spellings are aliases in l2i.fields)."""

from __future__ import annotations

from l2i.adapters import Adapted

NAME = "flat"


def recognizes(body: dict) -> bool:
    return False


def adapt(body: dict) -> Adapted:
    return Adapted(dict(body))
