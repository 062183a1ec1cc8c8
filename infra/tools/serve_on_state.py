#!/usr/bin/env python3
"""Run Stratus on what Terraform created in moto, with the task definition as Terraform rendered it.

    serve_on_state.py ENV_DIR MOTO_URL

ENV_DIR is an environment root applied against moto (infra/tools/tfmoto.py); its state is read with
`terraform show -json`. From the ECS task definition in that state, exactly as Terraform rendered it:

  1. the `migrate` container: its environment, and its `secrets` resolved the way the ECS agent does
     (SSM parameter DATABASE_URL, the master password out of the RDS-managed secret in moto), then
     `stratus migrate`: migrations as the master user, then the app's own role from its secret;
  2. the app container: its environment and secrets (DATABASE_URL; the operator's admin hash secret),
     then `stratus serve`, which reads DATABASE_SECRET_ARN (the app role's secret in moto) itself.

What cannot exist here is substituted, and only that: the listen address (a free loopback port), the
database's host and port in DATABASE_URL (the local PostgreSQL stands in for RDS: the master role and
database are created with the master secret's password that moto generated), PGSSLROOTCERT (the local
server's CA) and, beside the task's environment, AWS_ENDPOINT_URL and fake credentials (moto).

Then, through HTTP as a client would: /health, /health/ready and /health/live; a board write and read
(the moto DynamoDB table); a file upload and download (the moto bucket: the object must satisfy the
bucket policy's SSE-KMS statements, under the stack's key); the blog through the admin login (the
admin secret) with absolute links from STRATUS_PUBLIC_URL; the app role cannot create a table; SIGTERM
ends it with exit 0.

Needs STRATUS_BIN, STRATUS_TEST_POSTGRES_URL (a superuser URL) and STRATUS_TEST_POSTGRES_TLS_ROOT_CERT,
STRATUS_ADMIN_PASSWORD (the password whose hash the admin secret holds) and STRATUS_API_TOKEN (the token
whose SHA-256 the API token secret holds; the file API wants it once an admin is configured).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import boto3

PSQL_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))


def fail(message: str) -> None:
    print(f"serve-on-state: FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def say(message: str) -> None:
    print(f"serve-on-state: {message}", flush=True)


def state(env_dir: Path) -> dict:
    out = subprocess.run(["terraform", "show", "-json"], cwd=env_dir, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"terraform show -json: {out.stderr[-1000:]}")
    return json.loads(out.stdout)


def resources(st: dict):
    def walk(module):
        yield from module.get("resources", [])
        for child in module.get("child_modules", []):
            yield from walk(child)

    yield from walk(st["values"]["root_module"])


def one(st: dict, address: str) -> dict:
    for r in resources(st):
        if r["address"] == address:
            return r["values"]
    fail(f"{address} is not in the state")
    return {}


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Aws:
    def __init__(self, endpoint: str, region: str):
        self.endpoint, self.region = endpoint, region

    def client(self, service: str):
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint,
                            aws_access_key_id="test", aws_secret_access_key="test")

    def resolve(self, value_from: str) -> str:
        """A container `secrets` entry, read as the ECS agent reads it (execution role)."""
        parts = value_from.split(":")
        if parts[2] == "ssm":
            name = "/" + value_from.split(":parameter/", 1)[1]
            return self.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        if parts[2] == "secretsmanager":
            arn = ":".join(parts[:7])
            json_key = parts[7] if len(parts) > 7 else ""
            value = self.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
            return json.loads(value)[json_key] if json_key else value
        fail(f"unknown valueFrom {value_from}")
        return ""


def psql(url: str, *sql: str, check: bool = True) -> subprocess.CompletedProcess:
    if not PSQL_CANDIDATES:
        fail("psql is not installed (apt-get install postgresql-client)")
    args = [str(PSQL_CANDIDATES[-1]), url, "-v", "ON_ERROR_STOP=1", "-qAt"]
    for s in sql:
        args += ["-c", s]
    proc = subprocess.run(args, capture_output=True, text=True)
    if check and proc.returncode != 0:
        fail(f"psql {sql}: {proc.stderr.strip()}")
    return proc


def with_host(url: str, hostport: str, user: str | None = None, password: str | None = None) -> str:
    u = urllib.parse.urlsplit(url)
    auth = user or u.username or ""
    if password is not None:
        auth += ":" + urllib.parse.quote(password, safe="")
    return urllib.parse.urlunsplit((u.scheme, f"{auth}@{hostport}", u.path, u.query, u.fragment))


class Client:
    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=15) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def get(self, path: str):
        return self.request("GET", path)

    def form(self, path: str, fields: dict):
        status, _, page = self.get("/")
        m = re.search(rb'name="csrf_token" value="([^"]+)"', page)
        if not m:
            fail("the board page has no CSRF token")
        fields = dict(fields, csrf_token=m.group(1).decode())
        return self.request("POST", path, urllib.parse.urlencode(fields).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})


def expect(what: str, got, want) -> None:
    if got != want:
        fail(f"{what}: got {got!r}, want {want!r}")


def main() -> None:
    env_dir, endpoint = Path(sys.argv[1]), sys.argv[2]
    binary = os.environ.get("STRATUS_BIN") or fail("STRATUS_BIN is not set")
    pg_admin = os.environ.get("STRATUS_TEST_POSTGRES_URL") or fail("STRATUS_TEST_POSTGRES_URL is not set")
    pg_ca = os.environ.get("STRATUS_TEST_POSTGRES_TLS_ROOT_CERT") or fail("STRATUS_TEST_POSTGRES_TLS_ROOT_CERT is not set")
    admin_password = os.environ.get("STRATUS_ADMIN_PASSWORD") or fail("STRATUS_ADMIN_PASSWORD is not set")
    api_token = os.environ.get("STRATUS_API_TOKEN") or fail("STRATUS_API_TOKEN is not set")
    bearer = {"Authorization": f"Bearer {api_token}"}

    st = state(env_dir)
    td = one(st, "module.ecs_service[0].aws_ecs_task_definition.this")
    containers = {c["name"]: c for c in json.loads(td["container_definitions"])}
    if set(containers) != {"migrate", "stratus"}:
        fail(f"task definition containers {sorted(containers)}, want migrate and stratus")
    app, migrate = containers["stratus"], containers["migrate"]
    expect("migrate container essential", migrate.get("essential"), False)
    expect("migrate container command", migrate.get("command"), ["migrate"])
    expect("app dependsOn", app.get("dependsOn"), [{"containerName": "migrate", "condition": "SUCCESS"}])
    app_env = {e["name"]: e["value"] for e in app["environment"]}
    region = app_env["AWS_REGION"]
    aws = Aws(endpoint, region)

    # --- the database: local PostgreSQL in RDS's place, master role from the secret moto generated -----
    db = one(st, "module.data.aws_db_instance.this")
    master_secret = json.loads(aws.client("secretsmanager").get_secret_value(
        SecretId=db["master_user_secret"][0]["secret_arn"])["SecretString"])
    master_user, db_name = db["username"], db["db_name"]
    if master_secret.get("username", master_user) != master_user:
        # RDS writes the master user's name into its managed secret; moto writes "admin" whatever the
        # name. The password is what ECS injects (DATABASE_PASSWORD, with DATABASE_URL's user).
        say(f"note: moto's managed secret names {master_secret.get('username')!r}, RDS would name {master_user!r}")
    app_secret_arn = app_env["DATABASE_SECRET_ARN"]
    app_secret = json.loads(aws.client("secretsmanager").get_secret_value(SecretId=app_secret_arn)["SecretString"])
    app_user = app_secret["username"]
    pg_hostport = urllib.parse.urlsplit(pg_admin).netloc.rsplit("@", 1)[-1]
    psql(pg_admin, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)", f"DROP ROLE IF EXISTS {app_user}",
         f"DROP ROLE IF EXISTS {master_user}")
    # RDS's master user: rds_superuser (not a PostgreSQL superuser), allowed to create roles.
    psql(pg_admin, f"CREATE ROLE {master_user} LOGIN CREATEROLE PASSWORD '{master_secret['password']}'",
         f"CREATE DATABASE {db_name} OWNER {master_user}")
    say(f"PostgreSQL stands in for RDS: role {master_user} (password from the RDS-managed secret), database {db_name}")

    work = Path(tempfile.mkdtemp(prefix="stratus-on-state."))
    (work / "root").mkdir()
    (work / "tmp").mkdir()
    os.chmod(work / "root", 0o555)
    sandbox = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work / "root"), "TMPDIR": str(work / "tmp"),
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
    }

    def container_env(c: dict) -> dict:
        env = {e["name"]: e["value"] for e in c.get("environment", [])}
        for s in c.get("secrets", []):
            env[s["name"]] = aws.resolve(s["valueFrom"])
        # The substitutions (module docstring), nothing else.
        if "DATABASE_URL" in env:
            url = env["DATABASE_URL"]
            if "sslmode=verify-full" not in url:
                fail(f"DATABASE_URL does not verify the server: {url}")
            env["DATABASE_URL"] = with_host(url, pg_hostport)
        env["PGSSLROOTCERT"] = pg_ca
        return env

    # --- 1. the migrate container ------------------------------------------------------------------
    menv = container_env(migrate)
    for name in ("DATABASE_PASSWORD", "STRATUS_APP_DATABASE_SECRET_ARN", "DATABASE_URL"):
        if name not in menv:
            fail(f"the migrate container has no {name}")
    if "DATABASE_SECRET_ARN" in menv:
        fail("the migrate container must get the master password injected, not a secret ARN the task role reads")
    proc = subprocess.run([binary, "migrate"], cwd=work / "root", env={**sandbox, **menv}, capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        fail(f"`stratus migrate` (the migrate container) exited {proc.returncode}: {proc.stderr[-2000:]}{proc.stdout[-2000:]}")
    say("ok: `stratus migrate` with the migrate container's environment (master user) exited 0")
    app_url = with_host(f"postgres://{app_user}@x/{db_name}?sslmode=verify-full&sslrootcert={pg_ca}", pg_hostport,
                        app_user, app_secret["password"])
    login = psql(app_url, "SELECT 1", check=False)
    if login.returncode != 0:
        fail(f"the app role {app_user} cannot log in with its secret's password after `stratus migrate` "
             f"(does this binary take STRATUS_APP_DATABASE_SECRET_ARN?): {login.stderr.strip()}")
    denied = psql(app_url, "CREATE TABLE ddl_probe (i int)", check=False)
    if denied.returncode == 0 or "permission denied" not in denied.stderr:
        fail(f"the app role {app_user} could create a table: {denied.stderr.strip()}")
    say(f"ok: the app role {app_user} logs in with its secret's password and may not create tables")

    # --- 2. the app container ----------------------------------------------------------------------
    env = container_env(app)
    port = free_port()
    env["STRATUS_LISTEN"] = f"127.0.0.1:{port}"
    for name in ("STRATUS_PUBLIC_URL", "STRATUS_MIGRATE_ON_START", "STRATUS_ADMIN_PASSWORD_HASH", "STRATUS_API_TOKEN_SHA256"):
        if name not in env:
            fail(f"the app container has no {name}")
    expect("STRATUS_MIGRATE_ON_START", env["STRATUS_MIGRATE_ON_START"], "false")
    if "DATABASE_PASSWORD" in env:
        fail("the app container must not get a password injected: it reads its own secret (DATABASE_SECRET_ARN)")
    out, err = open(work / "stdout.log", "w"), open(work / "stderr.log", "w")
    proc = subprocess.Popen([binary, "serve"], cwd=work / "root", env={**sandbox, **env}, stdout=out, stderr=err)

    def dump() -> str:
        out.flush(), err.flush()
        return (work / "stderr.log").read_text()[-2000:] + (work / "stdout.log").read_text()[-2000:]

    try:
        c = Client(f"http://127.0.0.1:{port}")
        for _ in range(150):
            if proc.poll() is not None:
                fail(f"the app exited during start-up ({proc.returncode}): {dump()}")
            try:
                if c.get("/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            fail(f"/health did not answer 200 within 15 s: {dump()}")
        for path in ("/health", "/health/ready", "/health/live"):
            expect(f"GET {path}", c.get(path)[0], 200)
        say("ok: /health (database, as the app role), /health/ready and /health/live answer 200")

        # Board: the moto DynamoDB table from the state.
        user = f"tf-{uuid.uuid4().hex[:8]}"
        status, _, body = c.request("POST", "/api/v1/submissions", json.dumps({"username": user, "number": "00012345"}).encode(),
                                    {"Content-Type": "application/json"})
        expect("POST /api/v1/submissions", status, 201)
        status, _, body = c.get("/api/v1/submissions/latest")
        expect("GET /api/v1/submissions/latest", status, 200)
        if json.loads(body).get("username") != user:
            fail(f"latest submission is {body[:200]!r}, want {user}")
        table = env["STRATUS_BOARD_URL"].removeprefix("dynamodb://")
        items = aws.client("dynamodb").query(TableName=table, KeyConditionExpression="username = :u",
                                             ExpressionAttributeValues={":u": {"S": user}})["Items"]
        if not items:
            fail(f"the submission is not in the DynamoDB table {table}")
        expect("GET /", c.get("/")[0], 200)
        say(f"ok: board write and read through the DynamoDB table {table}")

        # Files: upload and download through the moto bucket, under the bucket policy's SSE-KMS rule.
        payload = os.urandom(300_000)
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"tf.bin\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
        status, _, answer = c.request("POST", "/api/v1/files", body, {"Content-Type": f"multipart/form-data; boundary={boundary}", **bearer})
        expect("POST /api/v1/files", status, 201)
        file_id = json.loads(answer)["id"]
        status, _, got = c.request("GET", f"/api/v1/files/{file_id}/content", headers=bearer)
        expect("GET /api/v1/files/{id}/content", status, 200)
        if got != payload:
            fail("the downloaded file differs from the uploaded one")
        files_url = urllib.parse.urlsplit(env["STRATUS_FILES_URL"])
        bucket, prefix = files_url.netloc, files_url.path.strip("/") + "/"
        s3 = aws.client("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        if not keys:
            fail(f"no object under s3://{bucket}/{prefix}")
        head = s3.head_object(Bucket=bucket, Key=keys[0])
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        check_sse_kms_policy(policy, head, env["STRATUS_S3_SSE_KMS_KEY_ID"])
        say(f"ok: upload and download (API token from its secret) through s3://{bucket}/{prefix}: SSE-KMS under the stack's key, as the bucket policy demands")

        # Blog: the admin signs in with the password whose hash is the operator's secret.
        status, headers, _ = c.form("/admin/login", {"username": env.get("STRATUS_ADMIN_USERNAME", "admin"),
                                                     "password": admin_password, "next": "/admin"})
        expect("POST /admin/login", status, 303)
        title = f"Applied by Terraform {uuid.uuid4().hex[:6]}"
        status, headers, page = c.form("/admin/posts", {"title": title, "slug": "", "body": "Hello from moto.", "action": "save"})
        expect("POST /admin/posts", status, 303)
        post_id = headers["location"].removeprefix("/admin/posts/").split("/")[0]
        status, _, edit = c.get(f"/admin/posts/{post_id}/edit")
        expect("GET edit", status, 200)
        version = re.search(rb'name="version" value="([^"]+)"', edit).group(1).decode()
        slug = re.search(rb'name="slug"[^>]*value="([^"]*)"', edit).group(1).decode()
        status, _, _ = c.form(f"/admin/posts/{post_id}/publish", {"version": version})
        expect("publish", status, 303)
        expect(f"GET /blog/{slug}", c.get(f"/blog/{slug}")[0], 200)
        status, _, feed = c.get("/blog/feed.xml")
        expect("GET /blog/feed.xml", status, 200)
        public = env["STRATUS_PUBLIC_URL"]
        if f"{public}/blog/{slug}".encode() not in feed:
            fail(f"the feed does not link {public}/blog/{slug} (STRATUS_PUBLIC_URL): {feed[:400]!r}")
        say(f"ok: admin login (secret from Secrets Manager), post published, the feed links {public}/blog/{slug}")

        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=int(env.get("STRATUS_SHUTDOWN_TIMEOUT", "25")) + 5)
        except subprocess.TimeoutExpired:
            fail("still running after the shutdown timeout")
        expect("exit status after SIGTERM", code, 0)
        say("ok: SIGTERM: exited 0")
    finally:
        if proc.poll() is None:
            proc.kill()
        psql(pg_admin, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)", f"DROP ROLE IF EXISTS {app_user}",
             f"DROP ROLE IF EXISTS {master_user}", check=False)
    say("PASS: migrate and serve ran on what Terraform created, with the environment it rendered")


def check_sse_kms_policy(policy: dict, head: dict, key_arn: str) -> None:
    """The stored object would pass the bucket policy's two SSE-KMS deny statements (moto does not enforce
    bucket policies, so this reads them and checks the object against their conditions)."""
    statements = {s.get("Sid"): s for s in policy["Statement"]}
    for sid, header, want in (("DenyUploadsNotEncryptedWithKms", "ServerSideEncryption", "aws:kms"),
                              ("DenyUploadsUnderAnotherKmsKey", "SSEKMSKeyId", key_arn)):
        s = statements.get(sid) or fail(f"the bucket policy has no {sid}")
        allowed = list(s["Condition"]["StringNotEqualsIfExists"].values())[0]
        allowed = allowed if isinstance(allowed, list) else [allowed]
        if head.get(header) not in allowed or head.get(header) != want:
            fail(f"object {header} = {head.get(header)!r}: {sid} would deny it (allows {allowed})")


if __name__ == "__main__":
    main()
