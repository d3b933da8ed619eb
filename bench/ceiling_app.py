"""The framework ceiling for `make bench`: a Falcon app that reads and parses the intake body and answers 201,
without touching the database. Run under the same gunicorn config as l2i:
`gunicorn -c gunicorn.conf.py bench.ceiling_app:app`."""

import json

import falcon


class Leads:
    def on_post(self, req, resp):
        body = json.loads(req.bounded_stream.read(65537))
        if not isinstance(body, dict):
            raise falcon.HTTPBadRequest()
        resp.status = falcon.HTTP_201
        resp.media = {"outcome": "created", "lead_id": "00000000-0000-0000-0000-000000000000", "status": "new"}


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


app = falcon.App()
app.add_route("/v1/leads", Leads())
app.add_route("/healthz", Health())
