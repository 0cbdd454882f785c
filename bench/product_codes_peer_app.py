"""The peers' claim, which bench/product_codes.py measures ours against: codes stored a row
each (``peers.product_codes``: id, code unique, batch_id, claimed_by, claimed_at, filled by
bench/product_codes_peers.py), a claim looks the code up and marks it claimed if it is not.

As the open anti-counterfeit projects do it, and no more: one transaction that locks the code's
row (``SELECT … FOR UPDATE`` by the unique index), answers 404 for a code not in the table, 409
for one claimed already, else sets ``claimed_by``/``claimed_at`` (200). The customer is the form's
``customer`` field: no session, no CSRF check, no rate limit, no reward, no guide: what ours
does beyond that is ours to pay for. ``GET /codes.csv`` streams every stored code as a row
``id,code,url`` from a server-side cursor (1,000 rows fetched at a time), as they would
export a batch for the printer. Flask and psycopg, one connection per gunicorn thread, served
with the same gunicorn settings as ours:

    PEERS_DATABASE_URL=postgresql://… PEERS_PUBLIC_BASE_URL=http://… \
        gunicorn --pythonpath bench 'product_codes_peer_app:app'
"""

import os
import threading

import psycopg
from flask import Flask, Response, request

app = Flask(__name__)
_local = threading.local()

LOOK_UP = "SELECT id, claimed_by FROM peers.product_codes WHERE code = %s FOR UPDATE"
CLAIM = "UPDATE peers.product_codes SET claimed_by = %s, claimed_at = now() WHERE id = %s"


def _connection() -> psycopg.Connection:
    connection = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        connection = _local.connection = psycopg.connect(os.environ["PEERS_DATABASE_URL"])
    return connection


@app.post("/claim/<code>")
def claim(code: str):  # noqa: ANN201
    customer = request.form.get("customer", "")
    if not customer.isdigit():
        return "customer?", 422
    connection = _connection()
    with connection.transaction():
        row = connection.execute(LOOK_UP, (code,), prepare=True).fetchone()
        if row is None:
            return "no such code", 404
        if row[1] is not None:
            return "claimed already", 409
        connection.execute(CLAIM, (int(customer), row[0]), prepare=True)
    return "claimed"


@app.get("/codes.csv")
def codes_csv() -> Response:
    base = os.environ["PEERS_PUBLIC_BASE_URL"].rstrip("/") + "/p/"

    def rows():  # noqa: ANN202
        yield "id,code,url\n"
        with psycopg.connect(os.environ["PEERS_DATABASE_URL"]) as connection:
            cursor = connection.cursor(name="export")
            cursor.itersize = 1000
            cursor.execute("SELECT id, code FROM peers.product_codes ORDER BY id")
            while batch := cursor.fetchmany(1000):
                yield "".join(f"{row_id},{code},{base}{code}\n" for row_id, code in batch)

    return Response(rows(), mimetype="text/csv")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
