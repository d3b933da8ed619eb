"""The OpenAPI 3.1 document, built from the same field definitions that validation uses (l2i.fields)."""

from __future__ import annotations

from l2i import __version__
from l2i.fields import FIELDS, Field
from l2i.resources.leads import ATTRIBUTION, CONTACT, PAGE_MAX, STATUSES

_REF = "#/components/schemas/"


def _field_schema(field: Field) -> dict:
    schema: dict = {"type": "string", "maxLength": field.max_length, "description": field.description}
    if field.kind == "phone":
        schema = {"type": ["string", "integer"], "description": field.description}
    if field.example is not None:
        schema["examples"] = [field.example]
    if field.aliases:
        schema["description"] += " Also accepted as: " + ", ".join(field.aliases) + "."
    return schema


def _error(description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": _REF + "Error"}}}}
    if headers:
        response["headers"] = headers
    return response


_RATE_HEADERS = {
    "X-RateLimit-Limit": {"description": "The key's allowance per minute.", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in this minute.", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "When the window resets, Unix seconds.", "schema": {"type": "integer"}},
}
_RETRY = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
_AUTH_ERRORS = {
    "401": _error("Missing, malformed, unknown or revoked API key."),
    "403": _error("The key lacks the scope this endpoint needs.", _RATE_HEADERS),
    "429": _error("Rate limit exceeded: wait Retry-After seconds.", {**_RATE_HEADERS, **_RETRY}),
    "503": _error("The database is unavailable: retry after Retry-After seconds.", _RETRY),
}


def document() -> dict:
    lead_props = {f.name: _field_schema(f) for f in FIELDS if f.group != "consent"}
    consent_props = {f.name: _field_schema(f) for f in FIELDS if f.group == "consent"}
    nullable_text = {"type": ["string", "null"]}
    lead_in = {
        "type": "object",
        "required": ["phone"],
        "properties": {
            **lead_props,
            "consent": {"$ref": _REF + "Consent"},
            "custom": {"type": "object", "description": "Free name/value pairs, kept with the lead.",
                       "additionalProperties": True},
        },
        "additionalProperties": {"description": "Any other field is kept, as sent, in the lead's extra."},
    }
    lead_summary = {
        "type": "object",
        "required": ["id", "status", "phone", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "phone": {"type": "string", "examples": ["+15551234567"]},
            "first_name": nullable_text, "last_name": nullable_text, "state": nullable_text,
            "source": nullable_text,
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    lead_full = {
        "type": "object",
        "required": ["id", "status", "reasons", "phone", "gates", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "phone": {"type": "string"},
            **{name: nullable_text for name in CONTACT},
            "consent": {"type": ["object", "null"]},
            "attribution": {"type": "object", "properties": {name: nullable_text for name in ATTRIBUTION}},
            "custom": {"type": "object"},
            "extra": {"type": "object"},
            "gates": {"type": "object", "description": "What each intake gate decided: phone, suppression, "
                      "dedupe, consent and calling_window (zones, state, not_before: the earliest legal call)."},
            "queue": {"type": ["object", "null"], "properties": {
                "not_before": {"type": "string", "format": "date-time"},
                "enqueued_at": {"type": "string", "format": "date-time"}}},
            "duplicate_count": {"type": "integer"},
            "last_duplicate_at": {"type": ["string", "null"], "format": "date-time"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    }
    intake_result = {
        "type": "object",
        "required": ["outcome", "lead_id", "status"],
        "properties": {
            "outcome": {"type": "string", "enum": ["created", "duplicate"]},
            "lead_id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "reasons": {"type": "array", "items": {"type": "string", "enum": [
                "suppressed", "missing_consent", "invalid_consent", "not_us_number", "no_calling_window"]}},
        },
    }
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "request_id": {"type": ["string", "null"]},
                "fields": {"type": "array", "items": {
                    "type": "object", "required": ["field", "code", "message"],
                    "properties": {"field": {"type": "string"}, "code": {"type": "string"},
                                   "message": {"type": "string"}}}},
            },
        }},
    }

    def query(name, description, schema):
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

    return {
        "openapi": "3.1.0",
        "info": {"title": "l2i", "version": __version__,
                 "description": "Lead intake for US outbound calling: every lead ends queued for a call or "
                                "stored and held, with the reasons."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key, l2i_ followed by 64 hex digits."}},
            "schemas": {"LeadIn": lead_in, "Consent": {"type": "object", "properties": consent_props,
                                                       "additionalProperties": True},
                        "IntakeResult": intake_result, "LeadSummary": lead_summary, "Lead": lead_full,
                        "Error": error},
        },
        "paths": {
            "/v1/leads": {
                "post": {
                    "operationId": "createLead",
                    "summary": "Send a lead (scope write).",
                    "description": "Fields may also come in the query string; the body wins where both have one.",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": False, "content": {
                        "application/json": {"schema": {"$ref": _REF + "LeadIn"}},
                        "application/x-www-form-urlencoded": {"schema": {"$ref": _REF + "LeadIn"}},
                    }},
                    "responses": {
                        "201": {"description": "A new lead: queued (new) or held (ineligible, with reasons).",
                                "headers": {**_RATE_HEADERS, "Location": {"schema": {"type": "string"}}},
                                "content": {"application/json": {"schema": {"$ref": _REF + "IntakeResult"}}}},
                        "200": {"description": "A duplicate of the account's lead for this number from the last "
                                               "30 days: nothing stored, that lead's id returned.",
                                "headers": _RATE_HEADERS,
                                "content": {"application/json": {"schema": {"$ref": _REF + "IntakeResult"}}}},
                        "400": _error("Malformed body."),
                        "413": _error("Body too large."),
                        "415": _error("Unsupported content type."),
                        "422": _error("Validation failed: see fields.", _RATE_HEADERS),
                        **_AUTH_ERRORS,
                    },
                },
                "get": {
                    "operationId": "listLeads",
                    "summary": "The account's leads, newest first (scope read).",
                    "security": [{"bearer": []}],
                    "parameters": [
                        query("limit", f"Page size, 1 to {PAGE_MAX} (default 20).",
                              {"type": "integer", "minimum": 1, "maximum": PAGE_MAX}),
                        query("status", "Only leads with this status.", {"type": "string", "enum": list(STATUSES)}),
                        query("source", "Only leads from this source.", {"type": "string"}),
                        query("since", "Created at or after (ISO 8601 or Unix seconds).", {"type": "string"}),
                        query("until", "Created before (ISO 8601 or Unix seconds).", {"type": "string"}),
                        query("cursor", "next_cursor of the previous page.", {"type": "string"}),
                    ],
                    "responses": {
                        "200": {"description": "One page.", "headers": _RATE_HEADERS, "content": {
                            "application/json": {"schema": {
                                "type": "object", "required": ["data", "next_cursor"],
                                "properties": {"data": {"type": "array", "items": {"$ref": _REF + "LeadSummary"}},
                                               "next_cursor": {"type": ["string", "null"]}}}}}},
                        "422": _error("A bad filter, limit or cursor.", _RATE_HEADERS),
                        **_AUTH_ERRORS,
                    },
                },
            },
            "/v1/leads/{lead_id}": {
                "get": {
                    "operationId": "getLead",
                    "summary": "One whole lead, with what each gate decided (scope read).",
                    "security": [{"bearer": []}],
                    "parameters": [{"name": "lead_id", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "The lead.", "headers": _RATE_HEADERS,
                                "content": {"application/json": {"schema": {"$ref": _REF + "Lead"}}}},
                        "404": _error("No such lead in this account."),
                        **_AUTH_ERRORS,
                    },
                },
            },
            **_import_paths(),
            "/healthz": {"get": {"operationId": "health", "summary": "The process is up.", "responses": {
                "200": {"description": "Up.", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/readyz": {"get": {"operationId": "ready", "summary": "The database is reachable.", "responses": {
                "200": {"description": "Ready.", "content": {"application/json": {"schema": {"type": "object"}}}},
                "503": _error("The database is unavailable.", _RETRY)}}},
            "/v1/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.", "responses": {
                "200": {"description": "OpenAPI 3.1.", "content": {"application/json": {
                    "schema": {"type": "object"}}}}}}},
        },
    }


def _import_paths() -> dict:
    """POST /v1/leads/import: a CSV file of leads (l2i/csv_import.py)."""
    field_error = {"type": "object", "required": ["field", "code", "message"],
                   "properties": {"field": {"type": "string"}, "code": {"type": "string"},
                                  "message": {"type": "string"}}}
    row = {"type": "object", "required": ["row", "outcome"], "properties": {
        "row": {"type": "integer", "minimum": 2, "description": "The row in the file; the header is row 1."},
        "outcome": {"type": "string", "enum": ["created", "duplicate", "ineligible", "invalid"],
                    "description": "created: stored and queued; ineligible: stored and held (reasons); duplicate: "
                                   "nothing stored, the existing lead's id; invalid: nothing stored (errors)."},
        "lead_id": {"type": "string", "format": "uuid"},
        "status": {"type": "string"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "errors": {"type": "array", "items": field_error, "description": "The field errors a POST /v1/leads would "
                   "get; fields are named as in the header. (row) is about the row itself."}}}
    totals = {"type": "object", "required": ["rows", "created", "duplicate", "ineligible", "invalid", "blank"],
              "properties": {name: {"type": "integer", "minimum": 0} for name in
                             ("rows", "created", "duplicate", "ineligible", "invalid", "blank")},
              "description": "rows = created + duplicate + ineligible + invalid + blank (rows after the header)."}
    stopped = {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "request_id": {"type": ["string", "null"]}},
        "description": "Present only if the import stopped part-way (the database failed): the rows listed are "
                       "stored, the others are not; sending the file again is safe."}
    return {"/v1/leads/import": {"post": {
        "operationId": "importLeads",
        "summary": "Import a CSV file of leads, each as POST /v1/leads would take it (scope write).",
        "description": "UTF-8 (a BOM is fine), comma-separated, a header row naming the columns with the same "
                       "field names and aliases as the JSON API (a phone column is required; consent_timestamp, "
                       "custom[name], ...; other columns are kept in extra). Empty cells are absent fields. A "
                       "malformed file stores nothing. The answer is streamed: every row's outcome, in file order, "
                       "then the totals. The request counts once against the key's rate limit.",
        "security": [{"bearer": []}],
        "parameters": [{"name": "source", "in": "query", "required": False,
                        "description": "The source of rows that name none.", "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
        "responses": {
            "200": {"description": "The file was processed (even if some rows are invalid).",
                    "headers": _RATE_HEADERS,
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["rows", "totals"],
                        "properties": {"rows": {"type": "array", "items": row}, "totals": totals,
                                       "error": stopped}}}}},
            "400": _error("The file is not UTF-8, or not well-formed CSV: nothing stored.", _RATE_HEADERS),
            "413": _error("The file is larger than L2I_MAX_IMPORT_BYTES.", _RATE_HEADERS),
            "415": _error("Not text/csv, or not UTF-8.", _RATE_HEADERS),
            "422": _error("The file is empty, or its header has no phone column or repeats a name; or a bad "
                          "source: see fields. Nothing stored.", _RATE_HEADERS),
            **_AUTH_ERRORS,
        },
    }}}


class OpenAPI:
    def __init__(self):
        self.document = document()

    def on_get(self, req, resp):
        resp.media = self.document
