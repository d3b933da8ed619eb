"""WPForms (the Webhooks addon): a flat body whose keys the site owner names in the webhook's "Request Body", as a
form post (the default) or JSON. Its own delivery code joins the lines of address, checkbox and select values
with "||" (WPFormsWebhooks\\Process::maybe_has_multiple_delimiter): such a value stays whole, and its lines are
also there for the source's mapping as KEY.0, KEY.1, ... (an address's first line: "Address.0" -> address1).
https://wpforms.com/docs/how-to-install-and-use-the-webhooks-addon-with-wpforms/"""

from __future__ import annotations

from l2i.adapters import Adapted

NAME = "wpforms"


def recognizes(body: dict) -> bool:
    return False  # its keys are the site owner's: nothing unmistakable


def adapt(body: dict) -> Adapted:
    lines = {key: value.split("||") for key, value in body.items() if isinstance(value, str) and "||" in value}
    return Adapted(dict(body), documents=[lines] if lines else [])
