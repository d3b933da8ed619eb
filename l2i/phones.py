"""Phone numbers: normalization to E.164 and what the number says about where its owner is."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import geocoder, timezone

from l2i.states import CODE_BY_NAME, STATES, TERRITORY_ZONES, US_REGIONS

# Digits and the punctuation people type around them; anything else (letters, extensions) is not a phone.
_ALLOWED = re.compile(r"^\+?[0-9 ()./\-]+$")

_REASONS = {
    phonenumbers.ValidationResult.TOO_SHORT: "has too few digits",
    phonenumbers.ValidationResult.TOO_LONG: "has too many digits",
    phonenumbers.ValidationResult.INVALID_LENGTH: "has the wrong number of digits for its country",
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "has an unknown country code",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "has too few digits (is the area code missing?)",
}


class NotAPhone(ValueError):
    pass


@dataclass(frozen=True)
class Phone:
    e164: str
    region: str | None  # phonenumbers region code, None when the number belongs to no assigned area code
    us: bool  # callable under US rules (US, territories, or +1 with an unassigned area code)
    area_zones: tuple[str, ...]  # zones of a US area code; empty when it names none (intake then falls back to
    # every zone of the lead's states, or every US zone) and for a non-US number, which is held anyway
    area_state: str | None  # state (or territory) of the area code, when the geocoder names one


def normalize(raw: str) -> Phone:
    """E.164 and location facts for a phone typed in any common way; NotAPhone says why it cannot be one."""
    text = raw.strip()
    if not text:
        raise NotAPhone("is empty")
    if len(text) > 32:
        raise NotAPhone("is too long to be a phone number")
    if not _ALLOWED.match(text):
        raise NotAPhone("may contain only digits, spaces, + ( ) - . and /")
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        raise NotAPhone("is not a phone number") from None
    result = phonenumbers.is_possible_number_with_reason(number)
    if result != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise NotAPhone(_REASONS.get(result, "is not a phone number"))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.country_code == 1 and e164[2] in "01":
        raise NotAPhone("has an area code that cannot exist (it starts with 0 or 1)")
    region = phonenumbers.region_code_for_number(number)
    us = number.country_code == 1 and (region is None or region in US_REGIONS)
    if not us:
        return Phone(e164, region, False, (), None)
    if region in TERRITORY_ZONES:
        return Phone(e164, region, True, TERRITORY_ZONES[region], region)
    # time_zones_for_number and description_for_number each work out the number's type (and its region again)
    # before their geographical lookup: the type is worked out once here, and a number of a type they would not
    # look up geographically (toll-free, unknown) goes through them as it is. 35 -> 28 us a phone.
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN or not phonenumbers.is_number_type_geographical(kind, 1):
        zones = timezone.time_zones_for_number(number)
        description = geocoder.description_for_number(number, "en")
    else:
        zones = timezone.time_zones_for_geographical_number(number)
        description = geocoder.description_for_valid_number(number, "en")
    return Phone(e164, region, True, tuple(z for z in zones if z != "Etc/Unknown"), _state_of(description))


def _state_of(description: str) -> str | None:
    # The English geocoder answers "New York, NY" for most US area codes and "Texas" for some.
    if not description:
        return None
    tail = description.rsplit(",", 1)[-1].strip()
    if tail.upper() in STATES and len(tail) == 2:
        return tail.upper()
    return CODE_BY_NAME.get(description.strip().lower())

