"""The floor bench/webhook.py measures ours against: Flask answering ``success`` to every POST.

It reads the body (as ours must) and does nothing else, so the difference between the two is
what our webhook costs: signature and replay checks, AES, XML, the Redis dedupe claim, the
PostgreSQL transaction, the reply. Served by gunicorn with the same settings as ours:

    gunicorn --pythonpath bench 'bare_app:app'
"""

from flask import Flask, request

app = Flask(__name__)


@app.post("/wechat/<channel>")
def callback(channel: str) -> str:
    request.get_data()
    return "success"


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
