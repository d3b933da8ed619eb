"""The lead's fields: one definition that validation, storage and the OpenAPI document all read.

A sender may spell a field in snake_case, camelCase or with other punctuation (`first_name`, `firstName`,
`First-Name`), or use an alias other lead platforms send (`postalCode`, `caller_id`, `trustedFormUrl`, ...).
Consent fields may come as a `consent` object, flat at the top level (form posts), or as `consent[field]`.
Nothing is silently lost: unknown fields are kept, as sent, in the lead's `extra`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from l2i import phones
from l2i.errors import FieldError
from l2i.states import CODE_BY_NAME, STATES


@dataclass(frozen=True)
class Field:
    name: str
    group: str  # "lead" (a column of leads), "attribution" (also a column), "consent" (in the consent object),
    # "dialing" (how the lead is queued: priority, expires_in) or "campaign" (which campaign it is for)
    description: str
    kind: str = "string"  # string | phone | email | state | zip | datetime | integer
    max_length: int = 255
    aliases: tuple[str, ...] = ()
    example: str | None = None
    minimum: int | None = None  # integer fields only
    maximum: int | None = None


FIELDS: tuple[Field, ...] = (
    Field("phone", "lead", "The number to call. A 10-digit US number in any punctuation, 1 + 10 digits, or "
          "E.164; stored as E.164 (+15551234567). Required.", "phone", 32,
          ("phone_number", "caller_id", "callerid", "telephone", "tel", "mobile", "mobile_phone", "cell_phone",
           "primary_phone", "phone1",
           # home/cell/mobile spellings of form builders, CRMs and lead platforms (HubSpot's mobilephone is
           # mobile_phone squashed; Jotform's phoneNumber is phone_number)
           "home_phone", "phone_home", "cell", "cellphone", "cell_phone_number", "phone_cell", "mobile_number",
           "mobile_phone_number", "phone_mobile", "day_phone", "daytime_phone", "contact_number", "contact_phone",
           "phone_no", "your_phone", "telephone_number"), "5551234567"),
    Field("source", "lead", "Where the lead came from (a form, a vendor, a campaign): used to group stats.",
          max_length=100, aliases=("lead_source",), example="my-webform"),
    Field("first_name", "lead", "First name.", max_length=100, aliases=("firstname", "fname", "given_name"),
          example="Jane"),
    Field("last_name", "lead", "Last name.", max_length=100, aliases=("lastname", "lname", "surname", "family_name"),
          example="Doe"),
    Field("email", "lead", "Email address.", "email", 254, ("email_address", "your_email", "user_email"),
          "jane@example.com"),
    Field("state", "lead", "US state, DC or territory: 2-letter code (or the full name). It decides the calling "
          "hours and zones; without it, the phone's area code does.", "state", 32,
          ("region", "state_code", "province", "state_region", "state_province", "region_code"), "TX"),
    Field("zip", "lead", "ZIP code: 5 digits or ZIP+4.", "zip", 10, ("zip_code", "zipcode", "postal_code", "postal",
                                                                       "post_code", "postcode", "zip_postal_code"),
          "75201"),
    Field("city", "lead", "City.", max_length=100, example="Dallas"),
    Field("address1", "lead", "Street address.", aliases=("address", "street", "street_address", "address_1", "address_line_1",
                                               "addr_line1"),
          example="1 Main St"),
    Field("address2", "lead", "Address line 2.", aliases=("address_2", "apt", "unit", "address_line_2", "addr_line2")),
    Field("external_id", "lead", "The sender's own id for this lead.", max_length=200,
          aliases=("seller_lead_id", "lead_external_id", "vendor_lead_id")),
    Field("sub_id", "attribution", "Sub id of the traffic source (affiliate, publisher).", max_length=200,
          aliases=("subid", "sub1", "aff_sub")),
    Field("utm_source", "attribution", "UTM source."),
    Field("utm_medium", "attribution", "UTM medium."),
    Field("utm_campaign", "attribution", "UTM campaign."),
    Field("utm_term", "attribution", "UTM term."),
    Field("utm_content", "attribution", "UTM content."),
    Field("referrer", "attribution", "Referring page.", max_length=2048, aliases=("referer", "referrer_url")),
    Field("landing_page", "attribution", "Landing page URL.", max_length=2048, aliases=("landing_page_url",)),
    Field("consent_timestamp", "consent", "When the consumer gave consent: ISO 8601 (UTC when no offset is "
          "given) or Unix seconds. Required, with consent_text_version, for the lead to be called; it may not "
          "be in the future.", "datetime", 64,
          ("consent_at", "consent_date", "consent_time", "optin_timestamp", "opt_in_timestamp", "tcpa_timestamp"),
          "2026-07-05T12:00:00Z"),
    Field("consent_text_version", "consent", "Version of the consent language the consumer agreed to. Required "
          "for the lead to be called.", max_length=200, aliases=("consent_version", "tcpa_version"),
          example="webform-v2"),
    Field("source_url", "consent", "Page where consent was given.", max_length=2048,
          aliases=("consent_url", "page_url"), example="https://example.com/quote"),
    Field("consent_text", "consent", "The consent language itself.", max_length=10000,
          aliases=("tcpa_text", "tcpa_language", "consent_language", "disclaimer", "tcpa_disclaimer",
                   "tcpa_consent_text", "tcpa_disclosure", "consent_disclosure", "disclosure", "disclaimer_text")),
    Field("ip", "consent", "IP address of the consumer when consenting.", max_length=64,
          aliases=("ip_address", "consumer_ip", "remote_ip", "remote_addr", "ip_addr", "user_ip", "client_ip")),
    Field("user_agent", "consent", "Browser user agent when consenting.", max_length=1000,
          aliases=("useragent", "browser_user_agent")),
    Field("trustedform_cert_url", "consent", "TrustedForm certificate URL.", max_length=2048,
          aliases=("trusted_form_url", "trustedform_url", "trusted_form_cert_url", "xx_trusted_form_cert_url",
                   "trustedform_cert", "trustedform")),
    Field("jornaya_leadid", "consent", "Jornaya (LeadiD) token.", max_length=200,
          aliases=("jornaya_lead_id", "leadid_token", "universal_leadid", "lead_id_token", "jornaya")),
    Field("priority", "dialing", "Queue priority, 0 to 9: higher is called first (default 0).", "integer", 1,
          ("lead_priority",), "0", 0, 9),
    Field("campaign", "campaign", "The campaign the lead is for: its code or its name (case does not matter). "
          "An account with campaigns requires one (or a key with a default campaign); a missing, unknown or "
          "inactive campaign is a 422 and nothing is stored.", max_length=200,
          aliases=("category", "campaign_code", "campaign_id"), example="SOLAR"),
    Field("expires_in", "dialing", "Seconds after intake at which the lead, if not reached by then, is dropped "
          "(status expired). Default: it never expires.", "integer", 8, ("ttl", "expires_in_seconds"), "86400",
          60, 90 * 86400),
)

BY_NAME = {f.name: f for f in FIELDS}
LEAD_COLUMNS = tuple(f.name for f in FIELDS if f.group in ("lead", "attribution") and f.name != "phone")
CONSENT_FIELDS = tuple(f.name for f in FIELDS if f.group == "consent")
DIALING_FIELDS = tuple(f.name for f in FIELDS if f.group == "dialing")


_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f]")  # C0 controls but tab and newlines (NUL: _storable)
_PHONE_FORMS = "(send 10 digits, 1 + 10 digits, or E.164)"  # after why a value is no phone


def squash(key: str) -> str:
    """`firstName`, `first_name`, `First-Name` and `FIRST NAME` all squash to `firstname`."""
    return _NOT_ALNUM.sub("", key.lower())


_LOOKUP: dict[str, Field] = {}
for _field in FIELDS:
    for _spelling in (_field.name, *_field.aliases):
        _LOOKUP.setdefault(squash(_spelling), _field)

# A whole name: split into first_name and last_name when neither is given (and kept, as sent, in extra).
FULL_NAME_KEYS = ("full_name", "name", "your_name", "contact_name", "customer_name")
_FULL_NAME_SQUASHED = {re.sub(r"[^a-z0-9]", "", k) for k in FULL_NAME_KEYS}

def lookup(key: str) -> Field | None:
    """The field a sender's key names (any spelling or alias), else None."""
    return _LOOKUP.get(squash(key))


_NESTED = re.compile(r"^(consent|custom)(?:\[([^\]]+)\]|\.(.+))$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ZIP = re.compile(r"^[0-9]{5}(?:-?[0-9]{4})?$")


@dataclass
class LeadInput:
    phone: phones.Phone
    columns: dict[str, str | None]  # every LEAD_COLUMNS entry
    consent: dict[str, Any]  # known consent fields (validated) plus any other keys the sender put in it
    custom: dict[str, Any]
    extra: dict[str, Any]
    dialing: dict[str, int | None] = dataclasses.field(default_factory=dict)  # every DIALING_FIELDS entry
    campaign: str | None = None  # the campaign as sent (code, name or id)
    campaign_field: str = "campaign"  # the name it was sent under (category, campaign_code, ...), for a 422

    def present(self) -> list[str]:
        """The fields this lead has a value for, as a campaign's required_fields names them: the canonical names
        (consent fields included) and custom.NAME for custom fields."""
        names = ["phone"]
        names += [name for name, value in self.columns.items() if value is not None]
        names += [name for name in CONSENT_FIELDS if self.consent.get(name) not in (None, "")]
        names += [name for name, value in self.dialing.items() if value is not None]
        names += [f"custom.{name}" for name, value in self.custom.items() if value not in (None, "")]
        return names


def phone_e164(value, errors: list[FieldError]) -> str | None:
    """A body's `phone` on its own (a suppression, an erasure) as E.164; None, with the error appended, when it
    is missing or no phone."""
    if value in (None, ""):
        errors.append(FieldError("phone", "required", "is required"))
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors.append(FieldError("phone", "invalid_type", "must be a phone number"))
        return None
    try:
        return phones.normalize(str(value)).e164
    except phones.NotAPhone as exc:
        errors.append(FieldError("phone", "invalid", f"{exc} {_PHONE_FORMS}"))
        return None


def parse_lead(body: dict[str, Any], query: dict[str, Any] | None = None,
               mapped: dict[str, Any] | None = None) -> LeadInput:
    """Validate a lead from a decoded body and the query string (the body wins where both have a field).
    mapped: the values a source's field mapping picked from the sender's body; they win over both.

    Raises a list of FieldError (as ValidationError) naming every problem at once.
    """
    errors: list[FieldError] = []
    known: dict[str, Any] = {}
    consent: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    # Query string first, body second: a field in both takes the body's value.
    for origin in (query or {}), body, (mapped or {}):
        seen_here: set[str] = set()
        for key, value in origin.items():
            if not isinstance(key, str) or not _clean_text(key):
                errors.append(FieldError("(key)", "invalid", "field names must be text without control bytes"))
                continue
            nested = _NESTED.match(key)
            if nested:
                group, sub = nested[1].lower(), nested[2] or nested[3]
                if group == "custom":
                    custom[sub] = value
                    continue
                field = _LOOKUP.get(squash(sub))
                if field is None or field.group != "consent":
                    consent[sub] = value
                    continue
                key_field = field
            elif (squashed := squash(key)) == "consent":
                if value is None:
                    continue
                if not isinstance(value, dict):
                    # A bare `consent=yes` (a form's checkbox) is kept, but it is no evidence by itself.
                    if isinstance(value, (str, int, float, bool)):
                        consent["value"] = value
                    else:
                        errors.append(FieldError("consent", "invalid_type", "must be an object"))
                    continue
                for sub, sub_value in value.items():
                    field = _LOOKUP.get(squash(sub))
                    if field is not None and field.group == "consent":
                        _put(known, field, sub_value, f"consent.{sub}", seen_here, extra)
                    else:
                        consent[sub] = sub_value
                continue
            elif squashed == "custom":
                if value is None:
                    continue
                if not isinstance(value, dict):
                    errors.append(FieldError("custom", "invalid_type", "must be an object of name/value pairs"))
                    continue
                custom.update(value)
                continue
            else:
                key_field = _LOOKUP.get(squashed)
                if key_field is None:
                    extra[key] = value
                    continue
            _put(known, key_field, value, key, seen_here, extra)

    values: dict[str, Any] = {}
    for name, (value, where) in known.items():
        try:
            values[name] = _convert(BY_NAME[name], value)
        except FieldError as exc:
            exc.field = where
            # Drop the traceback and context: they hold frames whose locals hold exc (cycles only the GC frees).
            exc.__context__ = None
            errors.append(exc.with_traceback(None))
            values[name] = exc
    if values.get("phone") is None:
        errors.append(FieldError("phone", "required", "is required"))
    for label, blob in (("custom", custom), ("consent", consent), ("extra", extra)):
        bad = first_bad_text(blob)
        if bad is not None:
            errors.append(FieldError(f"{label}.{bad}" if bad else label, "invalid",
                                     "text may not contain NUL bytes or unpaired surrogates"))
    if errors:
        raise ValidationError(errors)

    consent.update({name: values[name] for name in CONSENT_FIELDS if values.get(name) is not None})
    if values.get("first_name") is None and values.get("last_name") is None:
        values["first_name"], values["last_name"] = _split_name(extra)
    return LeadInput(
        phone=values["phone"],
        columns={name: values.get(name) for name in LEAD_COLUMNS},
        consent=consent,
        custom=custom,
        extra=extra,
        dialing={name: values.get(name) for name in DIALING_FIELDS},
        campaign=values.get("campaign"),
        campaign_field=known["campaign"][1] if "campaign" in known else "campaign",
    )


class ValidationError(Exception):
    def __init__(self, errors: list[FieldError]):
        super().__init__(f"{len(errors)} field errors")
        self.errors = errors


def _split_name(extra: dict) -> tuple[str | None, str | None]:
    """First and last name from a whole name in extra (full_name, name, ...): the first word, and the rest."""
    for key, value in extra.items():
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(key, str) and squash(key) in _FULL_NAME_SQUASHED and isinstance(value, str):
            words = value.split()
            if words and all(len(w) <= 100 and _clean_text(w) for w in words):
                first, rest = words[0], " ".join(words[1:])
                return first[:100], (rest[:100] or None)
    return None, None


def _put(known, field: Field, value, where: str, seen_here: set, extra: dict) -> None:
    """Record a field's value. Two spellings of one field in the same origin: the canonical one wins and the
    other is kept in extra under the name it came with."""
    if field.name in seen_here:
        previous_value, previous_where = known[field.name]
        if _canonical(where, field) and not _canonical(previous_where, field):
            extra[previous_where] = previous_value
        else:
            extra[where] = value
            return
    seen_here.add(field.name)
    known[field.name] = (value, where)


def _canonical(where: str, field: Field) -> bool:
    return where in (field.name, f"consent.{field.name}")


def _convert(field: Field, value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]  # a one-element array (Unbounce, Facebook's values[]) is that value
    if value is None:
        return None
    if isinstance(value, list):
        raise FieldError(field.name, "repeated", "must be a single value, not a list or a repeated field")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FieldError(field.name, "invalid_type", "must be a whole number" if field.kind == "integer"
                         else "must be a string")
    if field.kind == "integer":
        return _integer(field, value)
    if field.kind == "zip" and isinstance(value, int) and 0 <= value < 100000:
        value = f"{value:05d}"
    text = (value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)).strip()
    if not _clean_text(text):
        raise FieldError(field.name, "invalid", "may not contain control characters")
    if text == "":
        return None
    if len(text) > field.max_length:
        raise FieldError(field.name, "too_long", f"must be at most {field.max_length} characters")
    if field.kind == "email" and not _EMAIL.match(text):
        raise FieldError(field.name, "invalid", "is not an email address")
    if field.kind == "zip" and not _ZIP.match(text):
        raise FieldError(field.name, "invalid", "must be a 5-digit ZIP code or ZIP+4")
    if field.kind == "phone":
        try:
            return phones.normalize(text)
        except phones.NotAPhone as exc:
            raise FieldError(field.name, "invalid", f"{exc} {_PHONE_FORMS}") from None
    if field.kind == "state":
        code = text.upper() if text.upper() in STATES else CODE_BY_NAME.get(text.lower())
        if code is None:
            raise FieldError(field.name, "invalid", "must be a US state, DC or territory (2-letter code)")
        return code
    return text


def _integer(field: Field, value: str | int | float) -> int | None:
    """A whole number within the field's bounds: a JSON integer, or digits (forms and query strings)."""
    if isinstance(value, float):
        if not value.is_integer():
            raise FieldError(field.name, "invalid", "must be a whole number")
        value = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if text == "":
            return None
        if not re.fullmatch(r"-?[0-9]{1,12}", text):
            raise FieldError(field.name, "invalid", "must be a whole number")
        value = int(text)
    if not field.minimum <= value <= field.maximum:
        raise FieldError(field.name, "out_of_range", f"must be from {field.minimum} to {field.maximum}")
    return value


def _clean_text(text: str) -> bool:
    """Text for a column: storable, and no C0 control characters but tab and newlines."""
    return _storable(text) and not _CONTROL.search(text)


def first_bad_text(value: Any, path: str = "") -> str | None:
    """The path of the first key or string in a JSON value that PostgreSQL's jsonb cannot hold, else None."""
    if isinstance(value, str):
        return None if _storable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if not _storable(str(key)):
                return path or "(key)"
            found = first_bad_text(item, sub)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = first_bad_text(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _storable(text: str) -> bool:
    """Text PostgreSQL can store (in text and in jsonb): no NUL, valid UTF-8 (json.loads lets lone surrogates
    through)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


TIMESTAMP_YEARS = (1900, 9998)  # an instant outside these years (in UTC) is no time a lead, call or report has


def parse_timestamp(value: str) -> datetime | None:
    """ISO 8601 (UTC when no offset is given) or Unix seconds/milliseconds; None if it is neither, or if it
    lies outside TIMESTAMP_YEARS (year 1 with an offset east of UTC cannot even be moved to UTC: OverflowError)."""
    parsed = _parse_timestamp(value)
    if parsed is None:
        return None
    try:
        year = parsed.astimezone(timezone.utc).year
    except OverflowError:
        return None
    return parsed if TIMESTAMP_YEARS[0] <= year <= TIMESTAMP_YEARS[1] else None


def _parse_timestamp(value: str) -> datetime | None:
    text = value.strip()
    if re.fullmatch(r"[0-9]{9,10}(\.[0-9]+)?", text):
        return datetime.fromtimestamp(float(text), timezone.utc)
    if re.fullmatch(r"[0-9]{12,13}", text):
        return datetime.fromtimestamp(int(text) / 1000, timezone.utc)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
