"""Helpers of the gateway tests: RSA keys and JWTs, the NNG test service
(lintel-test-service) and an nginx with the Lintel module, each on free
loopback ports.  The fixtures are in conftest.py.
"""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LINTEL_BUILD", os.path.join(ROOT, "build"))
MODULE = os.path.join(BUILD, "gateway", "ngx_http_lintel_module.so")
SERVICE = os.path.join(BUILD, "gateway", "lintel-test-service")
NGINX = "/usr/sbin/nginx"

BASE = "example.test"
ISSUER = "https://auth.example.test"
AUDIENCE = "lintel-api"
ORIGIN = "https://app.example.test"
WORKERS = 2

TENANTS = {
    "acme": {"id": "0b9f7d3e-1111-4c3a-9a51-acme00000001", "status": "active"},
    "beta": {"id": "0b9f7d3e-2222-4c3a-9a51-beta00000002", "status": "active"},
    "frozen": {"id": "0b9f7d3e-3333-4c3a-9a51-froz00000003", "status": "suspended"},
    "cold": {"id": "0b9f7d3e-4444-4c3a-9a51-cold00000004", "status": "active",
             "delay_ms": 400},
}


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


class Key:
    def __init__(self, kid):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, data):
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def claims_for(tenant="acme", **over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()),
         "role": "member", "sid": str(uuid.uuid4()), "jti": str(uuid.uuid4()),
         "iat": now, "exp": now + 900, "typ": "access"}
    if tenant is not None:
        c["tid"] = TENANTS[tenant]["id"] if tenant in TENANTS else tenant
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def make_token(key, claims=None, header=None, tenant="acme", **over):
    h = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
    if header:
        h.update(header)
    c = claims if claims is not None else claims_for(tenant, **over)
    signing_input = b64u(json.dumps(h)) + "." + b64u(json.dumps(c))
    return signing_input + "." + b64u(key.sign(signing_input.encode()))


class Service:
    """The NNG test service (tests/gateway/lintel_test_service.c)."""

    def __init__(self, workdir, name, keys, extra=None, args=(), port=None):
        self.workdir = workdir
        self.name = name
        self.args = list(args)
        self.port = port or free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.url = "tcp://" + self.addr
        self.config_path = os.path.join(workdir, name + ".json")
        self.config = {"tenants": [dict(slug=s, **t) for s, t in TENANTS.items()],
                       "keys": [{"kid": k.kid, "pem": k.pem} for k in keys]}
        self.config.update(extra or {})
        self.write_config()
        self.log = open(os.path.join(workdir, name + ".log"), "a")
        self.start()

    def start(self):
        if self.log.closed:
            self.log = open(os.path.join(self.workdir, self.name + ".log"), "a")
        self.proc = subprocess.Popen(
            [SERVICE, "--listen", self.url, "--config", self.config_path]
            + self.args, stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def kill(self):
        """kill -9: no goodbye, connections reset."""
        self.proc.kill()
        self.proc.wait()

    def write_config(self):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.config, f)
        os.replace(tmp, self.config_path)
        # the service notices changes by mtime: make each one visible
        t = time.time() + getattr(self, "_bump", 0)
        self._bump = getattr(self, "_bump", 0) + 1
        os.utime(self.config_path, (t, t))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()


NGINX_CONF = """
load_module {module};
user root;
worker_processes {workers};
worker_shutdown_timeout 30s;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    log_format lintel_json escape=json
        '{{"request_id":"$lintel_request_id","tenant":"$lintel_tenant_slug",'
        '"tenant_id":"$lintel_tenant_id","user":"$lintel_user_id",'
        '"role":"$lintel_role","method":"$request_method","uri":"$uri",'
        '"status":$status,"duration":$request_time}}';
    access_log {dir}/access.log lintel_json;

    client_max_body_size 64k;
    client_body_buffer_size 64k;

    upstream users {{ server {users_addr}; keepalive 4; }}
    upstream app {{
        {app_servers}
        keepalive 16;
        keepalive_requests 100000;
    }}
    upstream down {{ server 127.0.0.1:{down_port}; }}

    lintel_base_domain {base};
    lintel_users_service users;
    lintel_jwt_issuer {issuer};
    lintel_jwt_audience {audience};
    lintel_jwt_leeway 30s;
    lintel_tenant_cache_ttl {tenant_ttl};
    lintel_tenant_cache_negative_ttl 10s;
    lintel_jwks_min_refetch 2s;
    lintel_lookup_timeout {lookup_timeout};
    lintel_cors_origins {origin};

    limit_req_zone $lintel_tenant_id zone=per_tenant:1m rate=10000r/s;
    limit_req_zone $lintel_user_id zone=per_user:1m rate=10000r/s;
    limit_req_zone $lintel_user_id zone=tight:1m rate=1r/m;
    limit_req_status 429;

    server {{
        listen 127.0.0.1:{port};
        error_page 413 429 502 503 504 @lintel_error;
        error_page 400 414 /.lintel/error;
        error_page 494 =431 /.lintel/error;
        location = /.lintel/error {{ internal; lintel_error; }}

        location @lintel_error {{ lintel_error; }}

        location / {{
            lintel_pass app;
            limit_req zone=per_tenant burst=1000 nodelay;
            limit_req zone=per_user burst=1000 nodelay;
        }}
        location /open/ {{
            lintel_pass app;
            lintel_auth off;
            client_max_body_size 32m;
            client_body_buffer_size 16k;
        }}
        location /down/ {{ lintel_pass down; lintel_timeout 1s; }}
        location /delay/ {{ lintel_pass app; lintel_timeout 1s; }}
        location /limited/ {{ lintel_pass app; limit_req zone=tight; }}
        location /detour/ {{
            lintel_pass app;
            lintel_auth off;
            rewrite ^/detour/(.*)$ /$1 last;
        }}
        location = /stock {{ return 200 "stock\\n"; }}
    }}
}}
"""


class Gateway:
    """An nginx master (daemon off) with the module, on a free port."""

    def __init__(self, workdir, users, app, tenant_ttl="60s", apps=None,
                 lookup_timeout="1s"):
        self.dir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(workdir, d), exist_ok=True)
        self.conf = os.path.join(workdir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(
                module=MODULE, workers=WORKERS, dir=workdir, base=BASE,
                users_addr=users.addr,
                app_servers="".join(
                    "server %s max_fails=1 fail_timeout=1s; " % a.addr
                    for a in (apps or [app])),
                down_port=free_port(),
                issuer=ISSUER, audience=AUDIENCE, origin=ORIGIN,
                port=self.port, tenant_ttl=tenant_ttl,
                lookup_timeout=lookup_timeout))
        check = subprocess.run(self.cmd("-t"), capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(self.cmd("-g", "daemon off;"),
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        self.base_url = "http://127.0.0.1:%d" % self.port

    def cmd(self, *args):
        return [NGINX, "-p", self.dir, "-c", self.conf] + list(args)

    def signal(self, name):
        subprocess.run(self.cmd("-s", name), check=True, capture_output=True)

    def request(self, method, path, host="acme." + BASE, token=None,
                headers=None, **kw):
        h = {"Host": host}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        kw.setdefault("timeout", 10)
        return requests.request(method, self.base_url + path, headers=h, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def error_log(self):
        with open(os.path.join(self.dir, "error.log")) as f:
            return f.read()

    def alerts(self):
        return [l for l in self.error_log().splitlines()
                if re.search(r"\[(alert|crit|emerg)\]", l)]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def assert_error(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    assert body["error"]["request_id"] == resp.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", resp.headers["X-Request-Id"])
    return body
