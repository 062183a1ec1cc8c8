"""The seeds' stack as a benchmark peer: the submission board (seed 000) and the visit counter (seed 001)
as a small Flask app on PostgreSQL (psycopg2, TLS as seed 001 connects), served by gunicorn with 4 sync
workers (seed 003's setting).

It does what Stratus's board does per request, no more: GET / reads the latest submission, counts the
visit (one UPDATE ... RETURNING) and renders a Jinja page; POST / checks a double-submit CSRF token,
validates, inserts and answers 303. Each worker keeps one connection open (autocommit), which is kinder to
the peer than the seeds' connect-per-request; `FLASK_BOARD_CONNECT_PER_REQUEST=1` gives the seeds' way.

Environment: FLASK_BOARD_DSN (libpq DSN or URL), FLASK_BOARD_CONNECT_PER_REQUEST.
"""

import os
import re
import secrets
from datetime import datetime, timezone

import psycopg2
from flask import Flask, abort, g, jsonify, make_response, redirect, render_template, request

DSN = os.environ.get("FLASK_BOARD_DSN", "")
PER_REQUEST = os.environ.get("FLASK_BOARD_CONNECT_PER_REQUEST") == "1"
COOKIE = "board_csrf"
DIGITS = re.compile(r"^[0-9]{8}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS flask_submission (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    number TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS flask_submission_username ON flask_submission (username, id DESC);
CREATE TABLE IF NOT EXISTS flask_visits (id INT PRIMARY KEY, count BIGINT NOT NULL);
INSERT INTO flask_visits (id, count) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
"""

app = Flask(__name__)
_worker_conn = None


def _connect():
    conn = psycopg2.connect(DSN, sslmode="require", connect_timeout=5)
    conn.autocommit = True
    return conn


def db():
    """One connection per worker process (or per request), reconnecting after a failure."""
    global _worker_conn
    if PER_REQUEST:
        if "conn" not in g:
            g.conn = _connect()
        return g.conn
    if _worker_conn is None or _worker_conn.closed:
        _worker_conn = _connect()
    return _worker_conn


@app.teardown_appcontext
def _close(_exc):
    conn = g.pop("conn", None)
    if conn is not None:
        conn.close()


def latest():
    with db().cursor() as cur:
        cur.execute("SELECT username, number, created_at FROM flask_submission ORDER BY id DESC LIMIT 1")
        return cur.fetchone()


def board(status=200, errors=None):
    row = latest()
    with db().cursor() as cur:
        cur.execute("UPDATE flask_visits SET count = count + 1 WHERE id = 1 RETURNING count")
        visits = cur.fetchone()[0]
    token = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
    body = render_template("board.html", latest=row, visits=visits, token=token, errors=errors or [])
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    if request.cookies.get(COOKIE) != token:
        response.set_cookie(COOKIE, token, httponly=True, samesite="Lax")
    return response


def insert(username, number):
    with db().cursor() as cur:
        cur.execute(
            "INSERT INTO flask_submission (username, number) VALUES (%s, %s) RETURNING id, created_at",
            (username, number),
        )
        return cur.fetchone()


def validate(username, number):
    errors = []
    username = (username or "").strip()
    if not 1 <= len(username) <= 64:
        errors.append("username must be 1-64 characters")
    if not DIGITS.match(number or ""):
        errors.append("number must be exactly 8 digits")
    return username, number, errors


@app.get("/")
def show_board():
    return board()


@app.post("/")
def submit_board():
    cookie = request.cookies.get(COOKIE)
    if not cookie or not secrets.compare_digest(cookie, request.form.get("csrf_token", "")):
        abort(403)
    number = request.form.get("number") or "".join(request.form.get(f"digit{i}", "") for i in range(1, 9))
    username, number, errors = validate(request.form.get("username"), number)
    if errors:
        return board(422, errors)
    insert(username, number)
    return redirect("/", code=303)


@app.post("/api/v1/submissions")
def create_submission():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return jsonify(error="body must be a JSON object"), 400
    username, number, errors = validate(data.get("username"), data.get("number"))
    if errors:
        return jsonify(errors=errors), 422
    row_id, created_at = insert(username, number)
    return jsonify(id=row_id, username=username, number=number, created_at=created_at.isoformat()), 201


@app.get("/api/v1/submissions/latest")
def latest_submission():
    row = latest()
    if row is None:
        return jsonify(error="no submissions yet"), 404
    return jsonify(username=row[0], number=row[1], created_at=row[2].isoformat())


@app.get("/api/v1/users/<username>/submissions")
def user_submissions(username):
    limit = min(max(int(request.args.get("limit", 20)), 1), 100)
    with db().cursor() as cur:
        cur.execute(
            "SELECT username, number, created_at FROM flask_submission WHERE username = %s "
            "ORDER BY id DESC LIMIT %s",
            (username, limit),
        )
        rows = cur.fetchall()
    return jsonify(items=[dict(username=u, number=n, created_at=c.isoformat()) for u, n, c in rows])


@app.get("/api/v1/visits")
def visits():
    with db().cursor() as cur:
        cur.execute("SELECT count FROM flask_visits WHERE id = 1")
        return jsonify(count=cur.fetchone()[0])


@app.get("/health/ready")
def ready():
    """Shallow readiness for the balancer (bench/beyond.py's topology: HAProxy checks this path, as it
    does Stratus's), like Stratus's `/health/ready`: never the database."""
    return jsonify(status="ready")


@app.get("/health")
def health():
    try:
        with db().cursor() as cur:
            cur.execute("SELECT 1")
        return jsonify(status="healthy", database="connected")
    except psycopg2.Error:
        return jsonify(status="unhealthy", database="disconnected"), 503


def create_schema():
    conn = _connect()
    with conn.cursor() as cur:
        cur.execute(SCHEMA)
    conn.close()


if __name__ == "__main__":
    create_schema()
    print(f"schema ready at {datetime.now(timezone.utc).isoformat()}")
