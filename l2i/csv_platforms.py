"""CSV files as the platforms people export from write them: encoding, delimiter, column names, do-not-call.

- **Encoding and delimiter** are read from the file's first bytes (`sniff`): UTF-8 with or without a BOM (Excel's
  "CSV UTF-8", HubSpot, Salesforce), UTF-16 LE or BE with or without a BOM (Facebook Lead Ads' download, Excel's
  "Unicode Text"), and comma, tab (Facebook's "CSV" is tab-separated) or semicolon (Excel where the decimal mark
  is a comma). Nothing else is guessed: a file that is none of these is still refused whole.
- **Column names.** Every spelling l2i.fields knows is taken as it is; `EXPORT_COLUMNS` adds the platforms'
  own export headers (Salesforce's `MailingState`, HubSpot's `State/Region`, Google's `User Phone`, ...). Where
  several columns give one field (HubSpot's Phone Number and Mobile Phone Number), the first non-empty one in
  order of preference is the field and the others stay in `extra` as sent.
- **Facebook's `p:` prefix** on phone values (`p:+15551234567`) is dropped from the phone column.
- **Do not call.** A column in `DO_NOT_CALL_COLUMNS` whose cell is anything but a plain "no" (empty, 0, false,
  no, ...: fail closed) marks the row: csv_import holds it (`do_not_call`) and suppresses its number.

Sources (the column names, as each platform documents them):
- Salesforce Contact and Lead fields, API names and labels (DoNotCall "Do Not Call", MobilePhone "Mobile",
  HomePhone, OtherPhone, MailingState/MailingPostalCode/MailingStreet/MailingCity, Lead State "State/Province",
  PostalCode "Zip/Postal Code"; HasOptedOutOfEmail and HasOptedOutOfFax exist, no call opt-out besides DoNotCall):
  https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-contact.html
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_objects_campaignmember.htm
- HubSpot default contact properties, as its export labels them (Phone Number, Mobile Phone Number,
  State/Region, Postal Code, Street Address) and their internal names (phone, mobilephone, state, zip, address):
  https://knowledge.hubspot.com/properties/hubspots-default-contact-properties
- Google Ads lead forms: column names "Full Name", "User Phone", "User Email", "Postal Code" and column ids
  FULL_NAME, PHONE_NUMBER, EMAIL, POSTAL_CODE, STREET_ADDRESS, CITY, REGION, COUNTRY:
  https://developers.google.com/google-ads/webhook/docs/samples
  https://developers.google.com/google-ads/api/reference/rpc/v18/LeadFormFieldUserInputTypeEnum.LeadFormFieldUserInputType
- Facebook Lead Ads: the form download is TSV ("the field is labeled csv although the only supported format is
  TSV"); question keys email, full_name, first_name, last_name, phone_number, street_address, city, state,
  zip_code, post_code; phone values prefixed `p:`:
  https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving
- Microsoft Dynamics 365 contact `donotphone` ("Do not allow Phone Calls", values Allow / Do Not Allow).
"""

from __future__ import annotations

import codecs
import re
from typing import BinaryIO

from l2i.fields import FIELDS, squash

HEAD_BYTES = 1 << 16  # how much of the file's start `sniff` reads
DELIMITERS = (",", "\t", ";")  # in this order of preference when counts tie

# Export headers that are not already a spelling l2i.fields knows, per l2i field, in order of preference.
EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "phone": ("User Phone",                                  # Google Ads lead forms
              "Mobile Phone Number",                         # HubSpot
              "HomePhone", "Home Phone", "OtherPhone", "Other Phone"),  # Salesforce Contact
    "email": ("User Email",),                                # Google Ads lead forms
    "state": ("State/Region",                                # HubSpot
              "MailingState", "Mailing State/Province", "State/Province"),  # Salesforce Contact, Lead
    "zip": ("post_code",                                     # Facebook Lead Ads
            "MailingPostalCode", "Mailing Zip/Postal Code", "Zip/Postal Code"),  # Salesforce Contact, Lead
    "address1": ("MailingStreet", "Mailing Street"),         # Salesforce Contact
    "city": ("MailingCity", "Mailing City"),                 # Salesforce Contact
}

# Columns that say the person must not be called (squashed: any case or punctuation).
DO_NOT_CALL_COLUMNS = frozenset(squash(name) for name in (
    "DoNotCall", "Do Not Call", "do_not_call", "DNC",        # Salesforce Contact/Lead (label Do Not Call), lists
    "HasOptedOutOfCall",                                     # named in issue 9 (Salesforce has no such field)
    "donotphone", "Do not allow Phone Calls",                # Microsoft Dynamics 365
    "Opted Out", "opted_out", "Opt Out", "optout",           # a list's own opt-out column
    "Call Opt Out", "Phone Opt Out", "Opted Out Of Calls",
))
# A do-not-call cell that says "no" (anything else, even unreadable, says "do not call": fail closed).
NOT_DO_NOT_CALL = frozenset(("", "0", "false", "f", "no", "n", "off", "none", "null", "-", "allow", "allowed",
                             "opted in", "opt in", "optin", "subscribed"))

_KNOWN = {}
for _field in FIELDS:
    for _spelling in (_field.name, *_field.aliases):
        _KNOWN.setdefault(squash(_spelling), _field.name)
_EXPORT = {}
for _name, _spellings in EXPORT_COLUMNS.items():
    for _rank, _spelling in enumerate(_spellings):
        _EXPORT.setdefault(squash(_spelling), (_name, _rank))
_FACEBOOK_PHONE = re.compile(r"^\s*p:\s*", re.IGNORECASE)


def field_of(header: str) -> str | None:
    """The l2i field a column header names, as l2i.fields spells it or as a platform's export does."""
    squashed = squash(header)
    return _KNOWN.get(squashed) or (_EXPORT[squashed][0] if squashed in _EXPORT else None)


# --- encoding and delimiter ---

def sniff(binary: BinaryIO) -> tuple[str, str]:
    """(Python codec, delimiter) of a CSV file, from its first HEAD_BYTES; leaves the stream where it was."""
    start = binary.tell()
    head = binary.read(HEAD_BYTES)
    binary.seek(start)
    encoding = encoding_of(head)
    return encoding, delimiter_of(head, encoding)


def encoding_of(head: bytes) -> str:
    """utf-8-sig (UTF-8, BOM or not), utf-16 (a BOM says which end) or utf-16-le/-be (no BOM: the NUL bytes of
    mostly-ASCII text say which end)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = head[:4096]
    pairs = len(sample) // 2
    if pairs:
        even, odd = sample[0:2 * pairs:2].count(0), sample[1:2 * pairs:2].count(0)
        if odd >= pairs // 2 and even * 10 <= odd:
            return "utf-16-le"
        if even >= pairs // 2 and odd * 10 <= even:
            return "utf-16-be"
    return "utf-8-sig"


def delimiter_of(head: bytes, encoding: str) -> str:
    """The delimiter the header row uses most, outside quotes (comma when it has none of them)."""
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "\r\n":
            break
        elif char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: (counts[d], -DELIMITERS.index(d)))
    return best if counts[best] else ","


# --- columns ---

class Layout:
    """What each column of a file's header is: the l2i field it gives (and in which order of preference) and
    whether it is a do-not-call column."""

    def __init__(self, keys: list[str]):
        self.keys = keys
        ranked: dict[str, list[tuple[int, int, str]]] = {}
        for index, key in enumerate(keys):
            squashed = squash(key)
            if squashed in _KNOWN:
                name = _KNOWN[squashed]
                # the canonical name first, then the aliases l2i knows; each passed to parse_lead as written
                ranked.setdefault(name, []).append((0 if squashed == squash(name) else 1, index, key))
            elif squashed in _EXPORT:
                name, rank = _EXPORT[squashed]
                ranked.setdefault(name, []).append((2 + rank, index, name))  # passed under the field's name
        self.candidates = {name: [(index, as_key) for _, index, as_key in sorted(found)]
                           for name, found in ranked.items()}
        self.phone_columns = frozenset(index for index, _ in self.candidates.get("phone", ()))
        self.do_not_call_columns = [index for index, key in enumerate(keys) if squash(key) in DO_NOT_CALL_COLUMNS]

    def fields(self, cells: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """The row as parse_lead takes it, and {name passed: header} for the columns passed under another name
        (so that errors name the column as the file does). Empty cells are absent."""
        chosen: dict[int, str] = {}
        for candidates in self.candidates.values():
            for index, as_key in candidates:
                if index < len(cells) and cells[index].strip():
                    chosen[index] = as_key
                    break
        fields: dict[str, str] = {}
        renamed: dict[str, str] = {}
        # The chosen column of each field comes first: parse_lead keeps the first spelling of a field and puts
        # later ones in extra.
        for index, as_key in chosen.items():
            value = cells[index]
            if index in self.phone_columns:
                value = _FACEBOOK_PHONE.sub("", value)
            fields[as_key] = value
            if as_key != self.keys[index]:
                renamed[as_key] = self.keys[index]
        for index, (key, cell) in enumerate(zip(self.keys, cells)):
            if index not in chosen and cell.strip():
                fields.setdefault(key, cell)
        return fields, renamed

    def do_not_call(self, cells: list[str]) -> str | None:
        """The header of the first do-not-call column that says so in this row, else None."""
        for index in self.do_not_call_columns:
            if index < len(cells) and cells[index].strip().lower() not in NOT_DO_NOT_CALL:
                return self.keys[index]
        return None
