"""The web console (web/) in Debian's chromium against this stack, through
its edge: web/tests/browser/console.mjs drives it (playwright-core) and
checks every main screen with axe; here, the stack and the budgets.

The console is built into build/web by `make web` (make test does it)."""
import datetime
import gzip
import os
import pathlib
import re
import subprocess

from conftest import ROOT
from test_billing import trialing_tenant
from test_billing_invoices import month_start, run_invoicing, set_period

WEB_OUT = ROOT / "build" / "web"
SHOTS = ROOT / "build" / "web-shots"
# issue 15: the first load's JavaScript, gzipped
FIRST_LOAD_JS_BUDGET = 200 * 1024


def test_first_load_javascript_is_within_budget():
    index = (WEB_OUT / "index.html").read_text()
    scripts = re.findall(r'<script[^>]+src="/([^"]+\.js)"', index)
    preloads = re.findall(r'<link rel="modulepreload"[^>]+href="/([^"]+\.js)"', index)
    assert scripts, index
    size = sum(len(gzip.compress((WEB_OUT / f).read_bytes(), 9))
               for f in scripts + preloads)
    print(f"first load: {size} bytes of JavaScript gzipped")
    assert size <= FIRST_LOAD_JS_BUDGET


def test_spa_routes_fall_back_to_the_console_and_api_stays_the_api(api):
    import requests
    port = api.port
    for host in ("lintel.localhost", "acme.lintel.localhost"):
        r = requests.get(f"http://127.0.0.1:{port}/projects/anything",
                         headers={"Host": host}, timeout=10)
        assert r.status_code == 200 and '<div id="root">' in r.text
        assert r.headers["Content-Type"].startswith("text/html")
        assert "default-src 'self'" in r.headers["Content-Security-Policy"]
        # only GET and HEAD: anything else is an unknown route
        r = requests.post(f"http://127.0.0.1:{port}/projects/anything",
                          headers={"Host": host}, timeout=10)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = requests.get(f"http://127.0.0.1:{port}/api/users/me",
                     headers={"Host": "acme.lintel.localhost"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token"


def browser(stack, script, **env):
    """Runs web/tests/browser/<script> against the stack's edge."""
    env = dict(os.environ, **env,
               LINTEL_HTTP_PORT=stack.env["LINTEL_HTTP_PORT"],
               LINTEL_MAIL_DIR=str(pathlib.Path(stack.run_dir) / "mail"),
               LINTEL_SHOTS_DIR=str(SHOTS))
    p = subprocess.run(["node", f"tests/browser/{script}"], cwd=ROOT / "web",
                       env=env, capture_output=True, text=True, timeout=300)
    print(p.stdout)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]


def test_console_in_the_browser(stack):
    browser(stack, "console.mjs")
    assert (SHOTS / "board.png").exists()


def test_billing_in_the_browser(stack, api):
    """A company whose last month ended and was invoiced: the plan, the
    invoice's PDF, a prorated change, and the free plan's project limit."""
    t = trialing_tenant(api)
    today = datetime.date.today()
    set_period(stack, t, "active", month_start(today, 1), month_start(today))
    r = run_invoicing(stack, today.isoformat())
    assert r.returncode == 0, r.stderr
    browser(stack, "billing.mjs", LINTEL_WEB_SLUG=t["slug"])
