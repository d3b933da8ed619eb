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
    if field.kind == "integer":
        schema = {"type": "integer", "minimum": field.minimum, "maximum": field.maximum,
                  "description": field.description + " Forms and query strings send it as digits."}
    if field.example is not None:
        schema["examples"] = [int(field.example) if field.kind == "integer" else field.example]
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
            "phone": {"type": ["string", "null"], "examples": ["+15551234567"],
                      "description": "null once the lead is anonymized (retention) or erased."},
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
            "phone": {"type": ["string", "null"],
                      "description": "null once the lead is anonymized (retention) or erased."},
            "campaign": {"type": ["string", "null"], "description": "The lead's campaign, by its code."},
            **{name: nullable_text for name in CONTACT},
            "consent": {"type": ["object", "null"]},
            "attribution": {"type": "object", "properties": {name: nullable_text for name in ATTRIBUTION}},
            "custom": {"type": "object"},
            "extra": {"type": "object"},
            "gates": {"type": "object", "description": "What each intake gate decided: phone, suppression, "
                      "dedupe, consent and calling_window (zones; states: the address state and the area code's; "
                      "rules: each state's rule row used, with effective_from and citation; not_before: the "
                      "earliest legal call)."},
            "queue": {"type": ["object", "null"], "properties": {
                "not_before": {"type": "string", "format": "date-time"},
                "enqueued_at": {"type": "string", "format": "date-time"},
                "lease_expires_at": {"type": ["string", "null"], "format": "date-time",
                                     "description": "While dialing: when the dialer's lease runs out."}}},
            "priority": {"type": "integer", "minimum": 0, "maximum": 9},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "attempts": {"type": "integer", "description": "Claims since the lead was last (re)queued."},
            "closed_at": {"type": ["string", "null"], "format": "date-time"},
            "cost_cents": {"type": ["integer", "null"], "description": "What the lead cost (its campaign's "
                                                                     "cost_per_lead_cents at intake)."},
            "transfer": {"oneOf": [{"type": "null"}, {"$ref": _REF + "Transfer"}]},
            "events": {"type": "array", "description": "What happened after intake, oldest first.",
                       "items": {"$ref": _REF + "LeadEvent"}},
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
                "suppressed", "missing_consent", "invalid_consent", "not_us_number", "no_calling_window", "dnc",
                "dnc_unavailable", "do_not_call", "state_not_served", "campaign_cap"]}},
            "campaign": {"type": "string", "description": "The lead's campaign (its code); for a duplicate, the "
                                                          "campaign of the open lead it repeats."},
        },
    }
    test_result = {
        "type": "object",
        "required": ["outcome", "stored", "would_be", "status", "reasons"],
        "description": "A test submission (\"test\": true, ?test=true, or a platform's test flag such as Google's is_test): "
                       "every gate ran, nothing was stored.",
        "properties": {
            "outcome": {"type": "string", "enum": ["test"]},
            "stored": {"type": "boolean", "enum": [False]},
            "would_be": {"type": "string", "enum": ["created", "duplicate"]},
            "lead_id": {"type": "string", "format": "uuid", "description": "The lead it would duplicate."},
            "status": {"type": "string", "enum": list(STATUSES)},
            "reasons": {"type": "array", "items": {"type": "string"}},
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
                                           "description": "An API key, l2i_ followed by 64 hex digits."},
                                "leadToken": {"type": "apiKey", "in": "query", "name": "lead_token",
                                              "description": "A source token (l2is_ + 64 hex digits), instead of "
                                                             "a key: only to send leads to its source's account."},
                                "sourceKey": {"type": "apiKey", "in": "header", "name": "X-Source-Key",
                                              "description": "A source token, with X-Source-Id (the source's id)."}},
            "schemas": {"LeadIn": lead_in, "Consent": {"type": "object", "properties": consent_props,
                                                       "additionalProperties": True},
                        "IntakeResult": intake_result, "TestResult": test_result,
                        "LeadSummary": lead_summary, "Lead": lead_full, **_source_schemas(),
                        **_dialing_schemas(), **_campaign_schemas(),
                        "Error": error},
        },
        "paths": {
            "/v1/leads": {
                "post": {
                    "operationId": "createLead",
                    "summary": "Send a lead (scope write), with a key or a source token.",
                    "description": "Fields may also come in the query string; the body wins where both have one. "
                                   "Instead of a key, a source token may come as ?lead_token=, a lead_token field, "
                                   "or X-Source-Id with X-Source-Key: the source's adapter, mapping, defaults and "
                                   "consent on submit then apply (see POST /v1/sources/{token}/leads). Bodies may "
                                   "also be multipart/form-data. A body whose shape is a known platform's "
                                   "(Typeform, Unbounce, Jotform, HubSpot) is unwrapped.",
                    "security": [{"bearer": []}, {"leadToken": []}, {"sourceKey": []}],
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": {"required": False, "content": {
                        "application/json": {"schema": {"$ref": _REF + "LeadIn"}},
                        "application/x-www-form-urlencoded": {"schema": {"$ref": _REF + "LeadIn"}},
                    }},
                    "responses": INTAKE_RESPONSES,
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
            **_sources_paths(),
            **_revenue_paths(),
            **_dialing_paths(),
            **_campaign_paths(),
            "/healthz": {"get": {"operationId": "health", "summary": "The process is up.", "responses": {
                "200": {"description": "Up.", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/readyz": {"get": {"operationId": "ready", "summary": "The database is reachable and takes writes.",
                                "responses": {
                "200": {"description": "Ready.", "content": {"application/json": {"schema": {"type": "object"}}}},
                "503": _error("The database is unavailable, in recovery or read-only.", _RETRY)}}},
            "/v1/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.", "responses": {
                "200": {"description": "OpenAPI 3.1.", "content": {"application/json": {
                    "schema": {"type": "object"}}}}}}},
        },
    }


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any 1 to 255 printable ASCII characters without spaces. The same key with the same request "
                   "within 24 hours gets the first answer back (header Idempotent-Replayed: true); with another "
                   "request, a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}}


def _intake_responses() -> dict:
    result = {"oneOf": [{"$ref": _REF + "IntakeResult"}, {"$ref": _REF + "TestResult"}]}
    return {
        "201": {"description": "A new lead: queued (new) or held (ineligible, with reasons).",
                "headers": {**_RATE_HEADERS, "Location": {"schema": {"type": "string"}}},
                "content": {"application/json": {"schema": {"$ref": _REF + "IntakeResult"}}}},
        "200": {"description": "A duplicate of the account's lead for this number from the last 30 days: nothing "
                               "stored, that lead's id returned; or a test submission's decision.",
                "headers": _RATE_HEADERS, "content": {"application/json": {"schema": result}}},
        "400": _error("Malformed body, or a malformed Idempotency-Key."),
        "409": _error("idempotency_key_reused: the Idempotency-Key came with another request; "
                      "idempotency_in_progress: its first request is still running (Retry-After).", _RETRY),
        "413": _error("Body too large."),
        "415": _error("Unsupported content type."),
        "422": _error("Validation failed: see fields.", _RATE_HEADERS),
        **_AUTH_ERRORS,
    }


INTAKE_RESPONSES = _intake_responses()


def _source_schemas() -> dict:
    from l2i.adapters import NAMES
    settings = {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "adapter": {"type": ["string", "null"], "enum": [*NAMES, None],
                    "description": "The sender's envelope; none: flat fields (a known platform's shape is "
                                   "still recognized)."},
        "defaults": {"type": "object", "description": "Values for its leads where a lead has none: source, "
                     "sub_id, utm_*, ... and custom (an object).", "additionalProperties": True},
        "mapping": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Sender key or JSON path (answers.3.text, properties.phone.value, 1.3) -> l2i "
                                   "field (phone, first_name, full_name, custom.NAME, consent.NAME)."},
        "consent_on_submit": {"type": "boolean", "description": "A submission is the consent act: a lead without "
                              "its own consent_timestamp gets the platform's submission time or its arrival time, "
                              "and consent_text_version (needed) and consent_text; gates.consent.origin says "
                              "where each came from."},
        "consent_text_version": {"type": ["string", "null"]},
        "consent_text": {"type": ["string", "null"]},
        "rate_limit": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "Per minute (120)."},
    }
    secrets = {
        "signing_secret": {"type": "string", "writeOnly": True, "description": "Typeform's webhook secret, "
                           "Facebook's app secret or Google's key: every post is checked against it."},
        "verify_token": {"type": "string", "writeOnly": True, "description": "Facebook's hub.verify_token."},
        "page_token": {"type": "string", "writeOnly": True,
                       "description": "Facebook's page access token, to read leads from the Graph API."},
    }
    source = {"type": "object", "required": ["id", "name", "prefix", "mapping", "defaults"], "properties": {
        "id": {"type": "string", "format": "uuid"},
        "prefix": {"type": "string", "description": "The token's first 13 characters."},
        **settings,
        "has_signing_secret": {"type": "boolean"}, "has_verify_token": {"type": "boolean"},
        "has_page_token": {"type": "boolean"},
        "pending_leads": {"type": "integer", "description": "Platform leads waiting for the platform's API."},
        "created_at": {"type": "string", "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"}}}
    return {
        "SourceIn": {"type": "object", "required": ["name"], "properties": {**settings, **secrets},
                     "additionalProperties": False},
        "Source": source,
        "SourceCreated": {"allOf": [{"$ref": _REF + "Source"}, {"type": "object", "required": ["token", "url"],
                          "properties": {"token": {"type": "string", "description": "Shown this once."},
                                         "url": {"type": "string", "description": "The path to give the sender."}}}]},
    }


def _sources_paths() -> dict:
    """Intake sources (issue 9)."""
    from l2i.adapters import NAMES
    admin_security = [{"bearer": []}]
    not_found = _error("No such source in this account.", _RATE_HEADERS)
    token_param = {"name": "source_ref", "in": "path", "required": True, "schema": {"type": "string"},
                   "description": "The source token, l2is_ followed by 64 hex digits."}
    id_param = {"name": "source_ref", "in": "path", "required": True, "schema": {"type": "string"},
                "description": "The source's id."}
    source_errors = {
        "401": _error("Unknown or revoked token, or a signature (Typeform-Signature, X-Hub-Signature-256, "
                      "google_key) that does not match the source's secret."),
        "429": _error("Over the source's limit: wait Retry-After seconds.", {**_RATE_HEADERS, **_RETRY}),
        "503": _error("The database is unavailable: retry after Retry-After seconds.", _RETRY),
    }
    responses = {name: value for name, value in INTAKE_RESPONSES.items() if name not in ("401", "403", "429", "503")}
    return {
        "/v1/sources": {
            "post": {"operationId": "createSource", "summary": "Create an intake source (scope admin); its token "
                     "is in the answer, once.", "security": admin_security,
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": _REF + "SourceIn"}}}},
                     "responses": {"201": {"description": "Created.", "headers": _RATE_HEADERS, "content": {
                         "application/json": {"schema": {"$ref": _REF + "SourceCreated"}}}},
                         "400": _error("Malformed body."), "413": _error("Body too large."),
                         "415": _error("Unsupported content type."),
                         "422": _error("Bad settings: see fields.", _RATE_HEADERS), **_AUTH_ERRORS}},
            "get": {"operationId": "listSources", "summary": "The account's sources (scope admin); no tokens, no "
                    "secrets.", "security": admin_security,
                    "responses": {"200": {"description": "The sources.", "headers": _RATE_HEADERS, "content": {
                        "application/json": {"schema": {"type": "object", "required": ["data"], "properties": {
                            "data": {"type": "array", "items": {"type": "object"}}}}}}}, **_AUTH_ERRORS}}},
        "/v1/sources/{source_ref}": {
            "get": {"operationId": "getSource", "summary": "One source: adapter, defaults, mapping, consent on "
                    "submit, which secrets are set (scope admin).", "security": admin_security,
                    "parameters": [id_param],
                    "responses": {"200": {"description": "The source.", "headers": _RATE_HEADERS, "content": {
                        "application/json": {"schema": {"$ref": _REF + "Source"}}}}, "404": not_found,
                        **_AUTH_ERRORS}},
            "delete": {"operationId": "revokeSource", "summary": "Revoke a source (scope admin): its token is "
                       "refused from the next request on.", "security": admin_security, "parameters": [id_param],
                       "responses": {"200": {"description": "Revoked.", "headers": _RATE_HEADERS, "content": {
                           "application/json": {"schema": {"$ref": _REF + "Source"}}}}, "404": not_found,
                           **_AUTH_ERRORS}}},
        "/v1/sources/{source_ref}/leads": {
            "post": {"operationId": "sourceLead", "summary": "The URL a sender posts to: the token is the credential "
                     "(no Authorization header).",
                     "description": "JSON, form or multipart/form-data, in the sender's own shape: the source's "
                                    "adapter (" + ", ".join(NAMES) + ") unwraps it, its mapping and defaults apply, "
                                    "and with consent on submit the submission is the consent act. Facebook Lead "
                                    "Ads webhooks answer 200 with {received, leads, waiting}: each lead is read "
                                    "from the Graph API; one the API did not give waits and is retried.",
                     "parameters": [token_param, IDEMPOTENCY_KEY],
                     "requestBody": {"required": False, "content": {
                         "application/json": {"schema": {"type": "object"}},
                         "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
                     "responses": {**responses, **source_errors}},
            "get": {"operationId": "sourceVerify", "summary": "Facebook's webhook verification: echoes hub.challenge "
                    "when hub.verify_token is the source's.",
                    "parameters": [token_param,
                                   {"name": "hub.mode", "in": "query", "required": False, "schema": {"type": "string"}},
                                   {"name": "hub.verify_token", "in": "query", "required": False,
                                    "schema": {"type": "string"}},
                                   {"name": "hub.challenge", "in": "query", "required": False,
                                    "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "The challenge.", "headers": _RATE_HEADERS,
                                          "content": {"text/plain": {"schema": {"type": "string"}}}},
                                  "400": _error("Not a verification request."),
                                  "403": _error("hub.verify_token is not the source's."), **source_errors}}},
    }


def _revenue_paths() -> dict:
    """Postbacks from buyer platforms and the stats (issue 4)."""
    from l2i.postbacks import BUYER, CALL_ID, CALL_TIME, CALLER_ID, DURATION, PAYOUT, PAYOUT_CENTS
    from l2i.resources.stats import GROUPS

    def names(label: str, spellings: tuple[str, ...], schema: dict) -> dict:
        return {"name": spellings[0], "in": "query", "required": False, "schema": schema,
                "description": f"{label}. Also recognized: {', '.join(spellings[1:])} (any case or punctuation)."}

    postback_params = [
        {"name": "token", "in": "query", "required": True, "schema": {"type": "string"},
         "description": "The account's postback token (l2ipb_...): the credential."},
        names("Caller id, any US format; required", CALLER_ID, {"type": "string"}),
        names("Payout in dollars (38.50)", PAYOUT, {"type": "string"}),
        names("Payout in cents, instead of dollars", PAYOUT_CENTS, {"type": "integer", "minimum": 0}),
        names("Call duration in seconds (or mm:ss)", DURATION, {"type": "string"}),
        names("Buyer", BUYER, {"type": "string"}),
        names("The platform's call id: repeats with it count once", CALL_ID, {"type": "string"}),
        names("When the call happened (ISO 8601 or Unix seconds; default now)", CALL_TIME, {"type": "string"}),
    ]
    result = {"type": "object", "required": ["outcome", "postback_id"], "properties": {
        "outcome": {"type": "string", "enum": ["matched", "unmatched", "duplicate", "replaced"]},
        "postback_id": {"type": "string", "format": "uuid"},
        "transfer_id": {"type": ["string", "null"], "format": "uuid"},
        "lead_id": {"type": ["string", "null"], "format": "uuid"},
        "payout_cents": {"type": ["integer", "null"]},
        "previous_payout_cents": {"type": ["integer", "null"]}}}
    answers = {
        "200": {"description": "Matched to a transfer (or a repeat: duplicate; or a new amount for a known call "
                               "id: replaced, with previous_payout_cents).",
                "content": {"application/json": {"schema": result}}},
        "202": {"description": "No transfer within 4 hours yet: kept, and matched when the transfer arrives.",
                "content": {"application/json": {"schema": result}}},
        "400": _error("Malformed body."),
        "401": _error("Missing, unknown or revoked token."),
        "413": _error("Body too large."),
        "415": _error("Unsupported content type."),
        "422": _error("A bad value (payout, caller id, duration, time): see fields. Nothing stored.", _RATE_HEADERS),
        "429": _error("Over the token's postbacks a minute (default 600): wait Retry-After seconds. Nothing stored.",
                      {**_RATE_HEADERS, **_RETRY}),
        "503": _error("The database is unavailable.", _RETRY),
    }
    for code in ("200", "202"):
        answers[code]["headers"] = _RATE_HEADERS
    free_form = {"type": "object", "additionalProperties": True}
    group = {"type": "object", "properties": {
        "group": {"type": ["string", "null"]},
        **{name: {"type": "integer"} for name in ("received", "leads", "duplicates", "ineligible", "queued",
                                                  "dialed", "qualified", "transferred", "revenue_cents",
                                                  "cost_cents", "margin_cents")},
        "ineligible_by_reason": {"type": "object", "additionalProperties": {"type": "integer"}},
        "revenue_per_lead_cents": {"type": "number"}}}
    return {
        "/v1/postbacks/calls": {
            "get": {"operationId": "postbackGet", "summary": "A buyer platform reports what a call paid.",
                    "description": "Each value has a list of spellings (any case or punctuation), from Ringba, "
                                   "Retreaver, Trackdrive, CallRail, Invoca and others. A value that is still an "
                                   "unfilled macro ([tag], {tag}, {{tag}}, %tag%, $tag, ${tag}) is absent. Each "
                                   "token has its own limit a minute, with X-RateLimit-* headers as API keys have.",
                    "parameters": postback_params, "responses": answers},
            "post": {"operationId": "postbackPost", "summary": "The same, with the fields in a form or JSON body.",
                     "description": "A JSON body may nest the call ({\"call\": {...}}): a top-level name wins, then "
                                    "a nested object's own key (caller.number), then a dotted path (call.id).",
                     "parameters": postback_params[:1],
                     "requestBody": {"required": False, "content": {
                         "application/json": {"schema": free_form},
                         "application/x-www-form-urlencoded": {"schema": free_form}}},
                     "responses": answers},
        },
        "/v1/stats": {"get": {
            "operationId": "stats", "summary": "Leads, duplicates, held, queued, dialed, qualified, transferred, "
                                               "revenue, cost and margin per group (scope read).",
            "security": [{"bearer": []}],
            "parameters": [
                {"name": "from", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Leads created at or after (ISO 8601 or Unix seconds; default: 30 days before to)."},
                {"name": "to", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Leads created before (default: now). At most 366 days after from."},
                {"name": "group_by", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(GROUPS)}, "description": "Default: day (UTC)."},
            ],
            "responses": {
                "200": {"description": "One row per group.", "headers": _RATE_HEADERS, "content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "from": {"type": "string"}, "to": {"type": "string"}, "group_by": {"type": "string"},
                        "groups": {"type": "array", "items": group}}}}}},
                "422": _error("A bad range or group.", _RATE_HEADERS),
                **_AUTH_ERRORS,
            },
        }},
    }


def _import_paths() -> dict:
    """POST /v1/leads/import: a CSV file of leads, queued as a job (l2i/import_jobs.py); GET /v1/imports/{id}."""
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
    counts = ("rows", "created", "duplicate", "ineligible", "invalid", "blank")
    totals = {"type": "object", "required": list(counts),
              "properties": {name: {"type": "integer", "minimum": 0} for name in counts},
              "description": "rows = created + duplicate + ineligible + invalid + blank (rows after the header), "
                             "counted up to the last committed row; final once status is done."}
    when = {"type": ["string", "null"], "format": "date-time"}
    job = {"type": "object",
           "required": ["id", "status", "created_at", "progress", "totals", "rows", "next_cursor"],
           "properties": {
               "id": {"type": "string", "format": "uuid"},
               "status": {"type": "string", "enum": ["queued", "running", "done", "failed"],
                          "description": "queued: waiting for a runner (at most L2I_IMPORTS_PER_ACCOUNT at once per "
                                         "account, L2I_IMPORTS_TOTAL in all); done: every row decided and "
                                         "committed; failed: stopped for good (failure says why; the rows listed "
                                         "are stored, the others are not)."},
               "source": {"type": ["string", "null"]},
               "created_at": {"type": "string", "format": "date-time"},
               "started_at": when, "finished_at": when,
               "progress": {"type": "object", "required": ["rows_total", "rows_done"], "properties": {
                   "rows_total": {"type": "integer", "minimum": 0, "description": "Rows after the header."},
                   "rows_done": {"type": "integer", "minimum": 0,
                                 "description": "Rows decided and committed so far."}}},
               "totals": totals,
               "rows": {"type": "array", "items": row,
                        "description": "A page of row outcomes in file order (blank rows are only counted)."},
               "next_cursor": {"type": ["string", "null"],
                               "description": "Set when the page is full: GET Location?cursor=... for the rows after "
                                              "it (while the job runs, ask again later from your last row)."},
               "failure": {"type": "string"}}}
    job_content = {"application/json": {"schema": job}}
    location = {"Location": {"description": "/v1/imports/{id}: the job.", "schema": {"type": "string"}},
                "Content-Location": {"description": "/v1/imports/{id}", "schema": {"type": "string"}},
                "Retry-After": {"description": "Seconds before asking the job again.", "schema": {"type": "integer"}}}
    prefer = ("`Prefer: wait=N` (RFC 7240) waits up to N seconds (at most L2I_IMPORT_MAX_WAIT_S, default 30) for "
              "the job's end.")
    return {
        "/v1/leads/import": {"post": {
            "operationId": "importLeads",
            "summary": "Import a CSV file of leads, each as POST /v1/leads would take it (scope write).",
            "description": "UTF-8 or UTF-16 (with or without a BOM), comma-, tab- or semicolon-separated (read "
                           "from the file), a header row naming the columns with the same field names and aliases "
                           "as the JSON API or as Facebook Lead Ads, Google Ads, HubSpot and Salesforce exports name "
                           "them (a phone column is required; consent_timestamp, custom[name], ...; other columns "
                           "are kept in extra). Empty cells are absent fields; Facebook's p: phone prefix is "
                           "dropped. A row whose do-not-call column (Do Not Call, DoNotCall, Opted Out, ...) holds "
                           "anything but a plain no is held (do_not_call) and its number suppressed. The whole file "
                           "is checked first: a malformed file stores nothing. A good file is stored and queued as "
                           "a job: 202 with its Location, at once. " + prefer +
                           " If it ends in time: 200 with the result (first page of rows); a 200 always means "
                           "every row was decided and committed. The request counts once against the key's rate "
                           "limit.",
            "security": [{"bearer": []}],
            "parameters": [{"name": "source", "in": "query", "required": False,
                            "description": "The source of rows that name none.", "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {
                **{media: {"schema": {"type": "string"}} for media in ("text/csv", "text/tab-separated-values")},
                "multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary",
                                            "description": "The CSV file: the first part with a filename, any "
                                                           "type."},
                                   "source": {"type": "string", "maxLength": 4096,
                                              "description": "As the source query parameter (the query wins)."}}}},
            }},
            "responses": {
                "200": {"description": "With Prefer: wait, the job ended in time: every row decided and committed.",
                        "headers": {**_RATE_HEADERS, "Content-Location": location["Content-Location"]},
                        "content": job_content},
                "202": {"description": "The file is stored and queued; GET the Location for progress and rows.",
                        "headers": {**_RATE_HEADERS, **location}, "content": job_content},
                "400": _error("The file is not UTF-8 or UTF-16 text, or not well-formed CSV, or a form upload "
                              "does not parse as multipart/form-data: nothing stored.", _RATE_HEADERS),
                "408": _error("The body arrived too slowly (L2I_READ_TIMEOUT, L2I_BODY_TIMEOUT)."),
                "413": _error("The file is larger than L2I_MAX_IMPORT_BYTES.", _RATE_HEADERS),
                "415": _error("Not text/csv (or text/tab-separated-values, or a multipart/form-data upload), "
                              "or a charset other than UTF-8 or UTF-16.", _RATE_HEADERS),
                "422": _error("The file is empty, or its header has no phone column or repeats a name; or a bad "
                              "source, or a form upload without a file part: see fields. Nothing stored.",
                              _RATE_HEADERS),
                "500": _error("With Prefer: wait, the job failed (import_failed): the rows decided before are "
                              "stored, see the Location."),
                **_AUTH_ERRORS,
            },
        }},
        "/v1/imports/{import_id}": {"get": {
            "operationId": "getImport",
            "summary": "An import job: status, progress, totals and a page of row outcomes (scope read or write).",
            "description": "200 whatever the job's status (queued, running, done, failed). " + prefer,
            "security": [{"bearer": []}],
            "parameters": [
                {"name": "import_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000}, "description": "Rows a page (100)."},
                {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "The previous page's next_cursor (a row number): the rows after it."},
                {"name": "outcome", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["created", "duplicate", "ineligible", "invalid"]},
                 "description": "Only the rows with this outcome."},
            ],
            "responses": {
                "200": {"description": "The job as it is now.",
                        "headers": {**_RATE_HEADERS, "Retry-After": location["Retry-After"]},
                        "content": job_content},
                "404": _error("No such import in your account.", _RATE_HEADERS),
                "422": _error("A bad limit, cursor or outcome.", _RATE_HEADERS),
                **_AUTH_ERRORS,
            },
        }},
    }


def _dialing_schemas() -> dict:
    """The dialer's side (issue 3): claimed leads, outcomes, transfers, events, suppressions."""
    from l2i.resources.dialing import OUTCOMES

    text = {"type": ["string", "null"]}
    when = {"type": "string", "format": "date-time"}
    return {
        "ClaimedLead": {"type": "object", "required": ["lead_id", "claim_id", "lease_expires_at", "attempt", "phone"],
                        "properties": {
            "lead_id": {"type": "string", "format": "uuid"},
            "claim_id": {"type": "string", "format": "uuid",
                         "description": "Names this claim; send it back with the outcome."},
            "lease_expires_at": {**when, "description": "Report the outcome before this, or the lead goes back "
                                                        "to the queue (the attempt counts)."},
            "attempt": {"type": "integer", "minimum": 1},
            "phone": {"type": ["string", "null"], "examples": ["+15551234567"],
                      "description": "null once the lead is anonymized (retention) or erased."},
            **{name: text for name in ("first_name", "last_name", "email", "state", "zip", "city", "address1",
                                       "address2", "source", "external_id")},
            "custom": {"type": "object"},
            "zones": {"type": "array", "items": {"type": "string"}},
            "priority": {"type": "integer"},
            "not_before": when,
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "created_at": when,
            "campaign": {**text, "description": "The lead's campaign (its code)."},
            "agent": {**text, "description": "The campaign's agent: which voice agent or script takes the call."}}},
        "Transfer": {"type": "object", "required": ["id", "destination", "caller_id", "transferred_at"],
                     "properties": {"id": {"type": "string", "format": "uuid"}, "destination": {"type": "string"},
                                    "caller_id": {"type": "string"}, "transferred_at": when,
                                    "call_id": text}},
        "LeadEvent": {"type": "object", "required": ["type", "at"], "properties": {
            "type": {"type": "string", "enum": ["claimed", "lease_expired", *OUTCOMES, "removed", "requeued",
                                                "expired", "suppressed", "dnc", "consent_expired", "deferred",
                                                "released"]},
            "at": when, "from_status": text, "to_status": text, "detail": {"type": "object"}}},
        "Erasure": {"type": "object", "required": ["id", "phone_sha256", "removed", "at"], "properties": {
            "id": {"type": "integer"},
            "phone_sha256": {"type": "string", "description": "SHA-256 (hex) of 'ACCOUNT_ID:+E164': never the number."},
            "removed": {"type": "object", "description": "Rows anonymized, deleted or cleared, per table; "
                        "suppression_added: whether the number was put on the list now."},
            "operator": {"type": ["string", "null"]},
            "at": {"type": "string", "format": "date-time"}}},
        "Suppression": {"type": "object", "required": ["phone", "created_at"], "properties": {
            "phone": {"type": "string"}, "reason": text, "created_at": when, "added": {"type": "boolean"}}},
    }


def _dialing_paths() -> dict:
    """The dialer's side (issue 3): claim, outcome, remove, requeue and the suppression list."""
    from l2i.resources.dialing import CLAIM_LIMIT_MAX, LEASE_MAX, LEASE_MIN, OUTCOMES
    from l2i.resources.leads import STATUSES
    from l2i.resources.suppressions import PAGE_MAX as SUPPRESSIONS_MAX

    def body(schema: dict) -> dict:
        return {"required": False, "content": {"application/json": {"schema": schema},
                                               "application/x-www-form-urlencoded": {"schema": schema}}}

    def ok(description: str, schema: dict, status: str = "200") -> dict:
        return {status: {"description": description, "headers": _RATE_HEADERS,
                         "content": {"application/json": {"schema": schema}}}}

    lead_path = [{"name": "lead_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    when_or_null = {"type": ["string", "null"], "format": "date-time"}
    moved = {"type": "object", "required": ["lead_id", "status"], "properties": {
        "lead_id": {"type": "string", "format": "uuid"}, "status": {"type": "string", "enum": list(STATUSES)}}}
    conflict = _error("The lead's status does not allow this move (illegal_transition).", _RATE_HEADERS)
    no_lead = _error("No such lead in this account.", _RATE_HEADERS)
    invalid = _error("Validation failed: see fields.", _RATE_HEADERS)
    body_errors = {"400": _error("Malformed body."), "413": _error("Body too large."),
                   "415": _error("Unsupported content type.")}
    outcome_in = {"type": "object", "required": ["outcome"], "additionalProperties": False, "properties": {
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "claim_id": {"type": "string", "format": "uuid",
                     "description": "The claim's claim_id: refused (409 claim_mismatch) if the lead was claimed again."},
        "call_id": {"type": "string", "maxLength": 200, "description": "The dialer's id for the call."},
        "note": {"type": "string", "maxLength": 1000},
        "destination": {"type": "string", "description": "transferred only: the number (E.164) or sip: URI."},
        "caller_id": {"type": "string", "description": "transferred only: the caller id dialed out with."},
        "transferred_at": {"type": "string", "description": "transferred only: ISO 8601 or Unix seconds."}}}
    return {
        "/v1/dial-queue/claim": {"post": {
            "operationId": "claimLeads",
            "summary": "Take up to limit leads that may legally be called now, each handed out once (scope dial).",
            "description": "Only the key's account's leads (with campaign, only those campaigns'), in order: the "
                           "campaign's priority, the lead's priority (higher first), not_before, oldest; never a "
                           "lead of a paused campaign or outside its campaign's hours. Each comes with a lease: "
                           "report its outcome before lease_expires_at, or it goes back to the queue and the "
                           "attempt counts.",
            "security": [{"bearer": []}],
            "requestBody": body({"type": "object", "additionalProperties": False, "properties": {
                "limit": {"type": "integer", "minimum": 1, "maximum": CLAIM_LIMIT_MAX, "default": 10},
                "lease_seconds": {"type": "integer", "minimum": LEASE_MIN, "maximum": LEASE_MAX, "default": 300},
                "campaign": {"description": "Only leads of this campaign (code or name), or of these.",
                             "oneOf": [{"type": "string", "minLength": 1, "maxLength": 200},
                                       {"type": "array", "maxItems": 20,
                                        "items": {"type": "string", "minLength": 1, "maxLength": 200}}]}}}),
            "responses": {
                **ok("The claimed leads (maybe none).", {"type": "object", "required": ["data"], "properties": {
                    "data": {"type": "array", "items": {"$ref": _REF + "ClaimedLead"}}}}),
                **body_errors, "422": invalid, **_AUTH_ERRORS}}},
        "/v1/leads/{lead_id}/outcome": {"post": {
            "operationId": "reportOutcome",
            "summary": "What the call did (scope dial). Only a lead in dialing takes an outcome.",
            "description": "no_answer, busy, voicemail: back to the queue after the account's back-off, or "
                           "unreached at its max attempts. transferred needs destination, caller_id, "
                           "transferred_at and creates a transfer. opted_out suppresses the number at once.",
            "security": [{"bearer": []}], "parameters": lead_path,
            "requestBody": {"required": True, "content": {"application/json": {"schema": outcome_in},
                                                          "application/x-www-form-urlencoded": {"schema": outcome_in}}},
            "responses": {
                **ok("The lead's new status.", {"type": "object", "required": ["lead_id", "status", "outcome"],
                                                "properties": {
                    **moved["properties"], "outcome": {"type": "string", "enum": list(OUTCOMES)},
                    "attempts": {"type": "integer"}, "next_attempt_at": when_or_null,
                    "transfer": {"oneOf": [{"type": "null"}, {"$ref": _REF + "Transfer"}]}}}),
                "404": no_lead,
                "409": _error("Not in dialing (illegal_transition), claimed again (claim_mismatch), or the "
                              "call_id is already used (duplicate_call_id).", _RATE_HEADERS),
                **body_errors, "422": invalid, **_AUTH_ERRORS}}},
        "/v1/leads/{lead_id}/remove": {"post": {
            "operationId": "removeLead",
            "summary": "Take a new or ineligible lead off the queue for good: status removed (scope write).",
            "security": [{"bearer": []}], "parameters": lead_path,
            "responses": {**ok("Removed (also when it already was).", moved), "404": no_lead, "409": conflict,
                          **body_errors, "422": invalid, **_AUTH_ERRORS}}},
        "/v1/leads/{lead_id}/requeue": {"post": {
            "operationId": "requeueLead",
            "summary": "Move a lead to the end of the queue; brings back an unreached or expired one (scope write).",
            "security": [{"bearer": []}], "parameters": lead_path,
            "requestBody": body({"type": "object", "additionalProperties": False, "properties": {
                "position": {"type": "string", "enum": ["end"], "default": "end"}}}),
            "responses": {
                **ok("Queued.", {"type": "object", "required": ["lead_id", "status", "position", "not_before"],
                                 "properties": {**moved["properties"], "position": {"type": "string"},
                                                "not_before": {"type": "string", "format": "date-time"}}}),
                "404": no_lead, "409": conflict, **body_errors, "422": invalid, **_AUTH_ERRORS}}},
        "/v1/suppressions": {
            "post": {
                "operationId": "suppressNumber",
                "summary": "Put a number on the account's suppression list (scope write or suppressions); pulls its "
                           "queued leads. Reason opted_out protects the entry.",
                "security": [{"bearer": []}],
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"type": "object", "required": ["phone"],
                                                    "additionalProperties": False, "properties": {
                        "phone": {"type": ["string", "integer"], "examples": ["5551234567"]},
                        "reason": {"type": "string", "maxLength": 200}}}}}},
                "responses": {**ok("Added.", {"$ref": _REF + "Suppression"}, "201"),
                              **ok("Already on the list.", {"$ref": _REF + "Suppression"}),
                              **body_errors, "422": invalid, **_AUTH_ERRORS}},
            "get": {
                "operationId": "listSuppressions",
                "summary": "The account's suppression list, in number order (scope suppressions).",
                "security": [{"bearer": []}],
                "parameters": [
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": SUPPRESSIONS_MAX}},
                    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
                     "description": "next_cursor of the previous page."}],
                "responses": {**ok("One page.", {"type": "object", "required": ["data", "next_cursor"], "properties": {
                    "data": {"type": "array", "items": {"$ref": _REF + "Suppression"}},
                    "next_cursor": {"type": ["string", "null"]}}}), "422": invalid, **_AUTH_ERRORS}}},
        "/v1/erasures": {"post": {
            "operationId": "eraseNumber",
            "summary": "A consumer's deletion request (scope admin): every lead of the account with the number is "
                       "anonymized (counts stay in the stats), its events, queue rows, call attempts, consent "
                       "evidence, stored answers and import rows deleted, the number cleared from transfers and "
                       "postbacks, and suppressed as opted_out (the one place it stays). Returns the audit row.",
            "security": [{"bearer": []}],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "object", "required": ["phone"],
                                                "additionalProperties": False, "properties": {
                    "phone": {"type": ["string", "integer"], "examples": ["5551234567"]},
                    "operator": {"type": "string", "maxLength": 200,
                                 "description": "Who asks, recorded on the audit row (e.g. a ticket)."}}}}}},
            "responses": {**ok("Erased; the lead_erasures row.", {"$ref": _REF + "Erasure"}, "201"),
                          **body_errors, "422": invalid, **_AUTH_ERRORS}}},
        "/v1/suppressions/{phone}": {"delete": {
            "operationId": "unsuppressNumber",
            "summary": "Take a number off the suppression list (scope suppressions). Its held leads stay held. An "
                       "opted-out number cannot be taken off over the API (409 opted_out_protected).",
            "security": [{"bearer": []}],
            "parameters": [{"name": "phone", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "Any format; + as %2B."}],
            "responses": {"204": {"description": "Removed.", "headers": _RATE_HEADERS},
                          "404": _error("Not on the list.", _RATE_HEADERS),
                          "409": _error("The number opted out (opted_out_protected): only an operator's "
                                        "sql/admin/opt_out_remove.sql takes it off.", _RATE_HEADERS),
                          "422": invalid, **_AUTH_ERRORS}}},
    }


class OpenAPI:
    def __init__(self):
        self.document = document()

    def on_get(self, req, resp):
        resp.media = self.document


def _campaign_schemas() -> dict:
    """Campaigns (issue 11): what a lead is for, who may call it, when, how often, which agent takes it."""
    from l2i.campaigns import BACKOFF_OUTCOMES, DAYS

    span = {"type": ["string", "null"], "pattern": "^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$",
            "examples": ["10:00-16:00"]}
    settings = {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "active": {"type": "boolean", "description": "false: takes no new leads (422); its queue is still called."},
        "paused": {"type": "boolean", "description": "true: its queued leads are not handed out (order kept)."},
        "required_fields": {"type": "array", "maxItems": 100, "items": {"type": "string"},
                            "description": "Lead fields a lead must have (any spelling intake takes, consent fields "
                                           "included; custom.NAME for a custom field), else 422."},
        "states": {"type": ["array", "null"], "items": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
                   "description": "States served; a lead outside is stored and held (state_not_served). null: all."},
        "hours": {"type": ["object", "null"], "description": "Weekly hours in the lead's local time, by day or "
                  "range of days (mon ... sun, mon-fri); always inside the legal window. null: the legal window.",
                  "additionalProperties": span, "examples": [{"mon-fri": "10:00-16:00", "sat": "10:00-14:00"}]},
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 50},
        "retry_backoff_s": {"type": "integer", "minimum": 1, "maximum": 604800,
                            "description": "Back-off base: base x 2^(attempts - 1), at most a day."},
        "backoff_s": {"type": "object", "description": "Back-off base per outcome.",
                      "properties": {o: {"type": "integer", "minimum": 1, "maximum": 604800}
                                     for o in BACKOFF_OUTCOMES}, "additionalProperties": False},
        "daily_cap": {"type": ["integer", "null"], "minimum": 0, "maximum": 10000000,
                      "description": "Leads queued per UTC day; over it, held campaign_cap until there is room."},
        "priority": {"type": "integer", "minimum": 0, "maximum": 9},
        "agent": {"type": ["string", "null"], "maxLength": 200,
                  "description": "Handed to dialers with each claimed lead (voice agent or script id)."},
        "cost_per_lead_cents": {"type": ["integer", "null"], "minimum": 0, "maximum": 10000000},
    }
    code = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$",
            "description": "Stable short code (never changes). Default: 8 random characters."}
    campaign = {"type": "object", "required": ["id", "code", "name", "active", "paused"], "properties": {
        "id": {"type": "string", "format": "uuid"}, "code": {"type": "string"}, "default": {"type": "boolean"},
        **settings,
        "hours": {**settings["hours"], "properties": {day: span for day in DAYS}},
        "backoff_s": {"type": "object"},
        "queued_today": {"type": "integer", "description": "Leads queued today (UTC), against daily_cap."},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"}}}
    return {
        "Campaign": campaign,
        "CampaignIn": {"type": "object", "required": ["name"], "additionalProperties": False,
                       "properties": {"code": code, **settings}},
        "CampaignChange": {"type": "object", "additionalProperties": False, "properties": settings},
    }


def _campaign_paths() -> dict:
    """GET/POST /v1/campaigns, GET/PATCH /v1/campaigns/{campaign} (scope admin)."""
    def ok(description: str, schema: dict, status: str = "200") -> dict:
        return {status: {"description": description, "headers": _RATE_HEADERS,
                         "content": {"application/json": {"schema": schema}}}}

    def body(name: str) -> dict:
        return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF + name}}}}

    one = {"$ref": _REF + "Campaign"}
    path = [{"name": "campaign", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The campaign's code (or its name)."}]
    invalid = _error("Validation failed: see fields.", _RATE_HEADERS)
    taken = _error("Another campaign of the account has this code or name (campaign_exists).", _RATE_HEADERS)
    missing = _error("No such campaign in this account.", _RATE_HEADERS)
    body_errors = {"400": _error("Malformed body."), "413": _error("Body too large."),
                   "415": _error("Unsupported content type.")}
    return {
        "/v1/campaigns": {
            "get": {"operationId": "listCampaigns", "summary": "The account's campaigns (scope admin).",
                    "security": [{"bearer": []}],
                    "responses": {**ok("Every campaign, oldest first.", {
                        "type": "object", "required": ["data"],
                        "properties": {"data": {"type": "array", "items": one}}}), **_AUTH_ERRORS}},
            "post": {"operationId": "createCampaign", "summary": "Create a campaign (scope admin).",
                     "description": "The answer shows its code: senders name the campaign with it (campaign, "
                                    "category, campaign_code or campaign_id), dialers claim by it.",
                     "security": [{"bearer": []}], "requestBody": body("CampaignIn"),
                     "responses": {**ok("Created.", one, "201"), "409": taken, **body_errors, "422": invalid,
                                   **_AUTH_ERRORS}}},
        "/v1/campaigns/{campaign}": {
            "get": {"operationId": "getCampaign", "summary": "One campaign (scope admin).",
                    "security": [{"bearer": []}], "parameters": path,
                    "responses": {**ok("The campaign.", one), "404": missing, **_AUTH_ERRORS}},
            "patch": {"operationId": "updateCampaign",
                      "summary": "Change a campaign's settings: only those given; null clears an optional one "
                                 "(scope admin). Pause with {\"paused\": true}.",
                      "description": "Raising or removing daily_cap releases the leads held over it. The code "
                                     "never changes.",
                      "security": [{"bearer": []}], "parameters": path, "requestBody": body("CampaignChange"),
                      "responses": {**ok("The campaign as changed.", one), "404": missing, "409": taken,
                                    **body_errors, "422": invalid, **_AUTH_ERRORS}}},
    }
