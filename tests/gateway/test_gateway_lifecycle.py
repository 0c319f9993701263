"""Worker lifecycle: reload and quit under load, clients that go away,
NNG only in workers, configuration errors (DESIGN §4, §13 nginx traps)."""

import concurrent.futures
import os
import re
import socket
import subprocess
import threading
import time

import pytest
import requests

from gateway_stack import BASE, MODULE, NGINX, make_token


def load(g, token, stop, results, path="/echo"):
    while not stop.is_set():
        try:
            r = requests.get(g.base_url + path, timeout=10, headers={
                "Host": "acme." + BASE, "Authorization": "Bearer " + token,
                "Connection": "close"})
            results.append(r.status_code)
        except requests.RequestException as e:
            results.append(repr(e))


def test_reload_under_load_loses_no_request(own_stack, keys):
    g, _, _ = own_stack()
    token = make_token(keys["main"])
    stop, results = threading.Event(), []
    threads = [threading.Thread(target=load, args=(g, token, stop, results, p))
               for p in ("/echo", "/echo", "/echo", "/delay/300", "/delay/300")]
    for t in threads:
        t.start()
    time.sleep(0.5)
    for _ in range(3):
        g.signal("reload")
        time.sleep(0.7)
    stop.set()
    for t in threads:
        t.join()
    assert len(results) > 50
    assert set(results) == {200}, [r for r in results if r != 200][:5]


def test_quit_under_load_finishes_in_flight_requests(own_stack, keys):
    g, _, _ = own_stack()
    token = make_token(keys["main"])
    g.get("/echo", token=token)   # keys and tenant known to the workers

    def slow(_):
        return g.get("/delay/800", token=token,
                     headers={"Connection": "close"}).status_code

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(slow, i) for i in range(10)]
        time.sleep(0.3)
        g.signal("quit")
        codes = [f.result() for f in futures]
    assert codes == [200] * 10
    g.proc.wait(10)


def test_client_going_away_mid_request_leaves_no_trace(gw, token):
    req = ("GET /delay/400 HTTP/1.1\r\nHost: acme.%s\r\n"
           "Authorization: Bearer %s\r\n\r\n" % (BASE, token)).encode()
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(req)
        time.sleep(0.02)
        s.close()
    time.sleep(0.8)
    assert gw.get("/echo", token=token).status_code == 200
    assert gw.alerts() == []
    # the request was dropped (499), not answered into a closed socket
    assert "client prematurely closed connection" in gw.error_log()


def thread_count(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def test_no_threads_and_no_libnng_in_nginx(gw, token):
    assert gw.get("/echo", token=token).status_code == 200
    assert thread_count(gw.proc.pid) == 1
    children = subprocess.run(["pgrep", "-P", str(gw.proc.pid)],
                              capture_output=True, text=True).stdout.split()
    assert children
    for pid in [gw.proc.pid] + [int(c) for c in children]:
        assert thread_count(pid) == 1, pid
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        assert "ngx_http_lintel_module.so" in maps
        assert "libnng" not in maps, pid


BAD_CONFIGS = [
    ("lintel_pass nope;", "upstream \"nope\""),
    ("lintel_jwt_leeway 120s;", "lintel_jwt_leeway"),
    ("lintel_pass app; lintel_pass app;", "lintel_pass"),
    ("lintel_next_upstream sometimes;", "\"sometimes\""),
    ("lintel_tenant_cache_zone 1k;", "lintel_tenant_cache_zone"),
    ("lintel_token_cache_zone lots;", "lintel_token_cache_zone"),
    ("lintel_users_service users; lintel_users_service users;",
     "lintel_users_service"),
    ("lintel_base_domain Bad_Domain;", "lintel_base_domain"),
    ("lintel_cors_origins https://app.example.test/path;", "lintel_cors_origins"),
    ("lintel_tenant_cache_ttl soon;", "lintel_tenant_cache_ttl"),
    ("lintel_auth maybe;", "lintel_auth"),
    ("lintel_users_service nobody;", "upstream \"nobody\""),
]


@pytest.mark.parametrize("line,directive", BAD_CONFIGS)
def test_invalid_configuration_fails_nginx_t(tmp_path, line, directive):
    base = "lintel_base_domain example.test;" if "base_domain" not in line else ""
    loc = line if line.startswith(("lintel_pass", "lintel_auth",
                                   "lintel_next_upstream")) else ""
    http = "" if loc else line
    if not line.startswith("lintel_pass"):
        loc = "lintel_pass app; " + loc
    conf = """
load_module %s;
error_log %s/error.log;
pid %s/nginx.pid;
events {}
http {
    %s
    upstream app { server 127.0.0.1:7102; }
    upstream users { server 127.0.0.1:7101; }
    lintel_jwt_issuer https://auth.example.test;
    lintel_jwt_audience lintel-api;
    %s
    server {
        listen 127.0.0.1:1;
        error_page 502 503 504 @e;
        location @e { lintel_error; }
        location / { %s }
    }
}
""" % (MODULE, tmp_path, tmp_path, base, http, loc)
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    r = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(path)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert directive in r.stderr, r.stderr


def test_auth_without_issuer_fails_nginx_t(tmp_path):
    conf = """
load_module %s;
error_log %s/error.log;
pid %s/nginx.pid;
events {}
http {
    lintel_base_domain example.test;
    upstream users { server 127.0.0.1:7101; }
    server {
        listen 127.0.0.1:1;
        error_page 502 503 504 @e;
        location @e { lintel_error; }
        location / { lintel_pass users; }
    }
}
""" % (MODULE, tmp_path, tmp_path)
    path = tmp_path / "nginx.conf"
    path.write_text(conf)
    r = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(path)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert re.search(r"lintel_jwt_issuer", r.stderr), r.stderr


def test_example_configuration_passes_nginx_t(tmp_path):
    """The local stack's edge as stack.sh renders it, with its production
    defaults (limits and all): every placeholder filled, nginx -t clean."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    env = dict(os.environ, LINTEL_RUN_DIR=str(tmp_path / "run"),
                   LINTEL_NGINX_MODULE=MODULE)
    env = {k: v for k, v in env.items() if not k.startswith("LINTEL_EDGE_")}
    r = subprocess.run(["bash", os.path.join(root, "compose", "local",
                                             "stack.sh"),
                        "edge-config", str(tmp_path)],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # the certificates the edge presents and trusts (lintel_ssl_*), where
    # the stack keeps them
    subprocess.run(["bash", os.path.join(root, "compose", "tls.sh"),
                    str(tmp_path / "run" / "tls")], check=True,
                   capture_output=True)
    path = tmp_path / "nginx.conf"
    text = path.read_text()
    # placeholders outside the header comment
    body = text.split("load_module", 1)[1]
    assert re.findall(r"@[A-Z_]+@", body) == []
    assert "limit_req_zone $binary_remote_addr zone=lintel_ip:10m " \
        "rate=10r/s;" in text
    r = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "[warn]" not in r.stderr, r.stderr
