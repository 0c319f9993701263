"""A large export's download streams (issue 12, point 3): 100,000 task rows
with multi-byte text, more than ten MiB of CSV, come through the edge at its
default lintel_max_reply_size (4m: the file could never come whole) as a
continued reply, part after part, byte for byte the CSV the export job
stored, with the file's exact size as Content-Length, while neither the
nginx workers nor the reporting service hold the file."""
import csv
import http.client
import io
import subprocess
import socket
import time

import pytest

from projects_api import P, new_tenant
from test_reporting_exports import ask, seed_tasks, wait_done
from users_api import BASE, EdgeApi

MIB = 1024 * 1024
ROWS = 100000


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


def nginx_workers(stack):
    master = (stack.run_dir / "nginx" / "nginx.pid").read_text().strip()
    out = subprocess.run(["pgrep", "-P", master], capture_output=True,
                         text=True).stdout.split()
    assert out, "no nginx workers"
    return [int(p) for p in out]


def stored_csv(stack, tenant_id, export_id):
    """The file as the export job stored it: its chunks, in order."""
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (tenant_id,))
        cur.execute("SELECT convert_to(string_agg(data, '' ORDER BY n),"
                    " 'UTF8'), count(*) FROM reporting.export_chunks"
                    " WHERE export_id = %s", (export_id,))
        data, chunks = cur.fetchone()
        cur.execute("SELECT title FROM reporting.tasks")
        titles = {r[0] for r in cur.fetchall()}
    return bytes(data), chunks, titles


@pytest.fixture(scope="module")
def big_export(stack):
    """One large export for the module (it costs seconds of CPU): its
    tenant, id, stored bytes and the titles of its rows."""
    api = EdgeApi(stack)
    t = new_tenant(api)
    p = P(api, t)
    seed_tasks(stack, t["id"], ROWS)
    # multi-byte text, so that a part cut by characters is not one cut by
    # bytes, and rows long enough to make more than ten MiB
    with stack.db("migrator") as conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (t["id"],))
        cur.execute("UPDATE reporting.tasks SET title = title"
                    " || ' Zürich € 😀 ' || repeat('ß', length(title) * 4)")
    e = ask(p, {"kind": "tasks"})
    wait_done(p, e["id"], timeout=60)
    want, chunks, titles = stored_csv(stack, t["id"], e["id"])
    assert len(want) > 10 * MIB and chunks > 1
    return {"tenant": t, "id": e["id"], "want": want, "titles": titles,
            "port": api.port}


def open_download(big, rcvbuf=None):
    """The download on a connection of its own (http.client, not requests:
    the suite's contract check reads a requests body whole before the test
    sees it); rcvbuf: a small receive buffer, for a client that reads
    slowly."""
    t = big["tenant"]
    conn = http.client.HTTPConnection("127.0.0.1", big["port"], timeout=30)
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(("127.0.0.1", big["port"]))
    conn.sock = s
    conn.request("GET", f"/api/reports/exports/{big['id']}/download",
                 headers={"Host": f"{t['slug']}.{BASE}",
                          "Authorization": f"Bearer {t['token']}"})
    return conn, conn.getresponse()


def test_a_100000_row_export_downloads_streamed_byte_for_byte(stack,
                                                             big_export):
    conf = (stack.run_dir / "nginx" / "nginx.conf").read_text()
    assert "lintel_max_reply_size 4m;" in conf
    want, titles = big_export["want"], big_export["titles"]

    workers = nginx_workers(stack)
    rss = {pid: peak_rss_kib(pid) for pid in workers}
    service = stack.pid("reporting")
    service_rss = peak_rss_kib(service)

    started = time.time()
    conn, r = open_download(big_export)
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/csv; charset=utf-8"
    assert r.getheader("Content-Length") == str(len(want))
    assert r.getheader("Content-Disposition") == \
        f'attachment; filename="tasks-{big_export["id"][:8]}.csv"'
    got = io.BytesIO()
    first = None
    while True:
        block = r.read(256 * 1024)
        if not block:
            break
        if first is None:
            first = time.time() - started
        got.write(block)
    total = time.time() - started
    conn.close()
    body = got.getvalue()

    assert len(body) == len(want)
    assert body == want
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert len(rows) == ROWS + 1
    assert len({row[0] for row in rows[1:]}) == ROWS
    assert {row[3] for row in rows[1:]} == {"'" + x for x in titles}

    growth = max(peak_rss_kib(pid) - rss[pid] for pid in workers)
    service_growth = peak_rss_kib(service) - service_rss
    print(f"{len(body) / MIB:.1f} MiB: first bytes after {first:.3f} s, "
          f"all after {total:.2f} s; peak RSS growth: nginx worker "
          f"{growth} KiB, reporting service {service_growth} KiB")
    assert growth < 8 * 1024, f"an nginx worker grew by {growth} KiB"
    # the whole file would be (several copies of) len(body)
    assert service_growth * 1024 < len(body) // 2, \
        f"the reporting service grew by {service_growth} KiB"


def test_an_export_that_expires_mid_download_cuts_the_connection(
        stack, big_export):
    """The service answers a part with 410 once the export has expired: the
    client got the headers long ago, so the edge cuts its connection short
    of Content-Length (a client can tell), after the bytes that were good."""
    want = big_export["want"]
    conn, r = open_download(big_export, rcvbuf=64 * 1024)
    assert r.status == 200 and r.getheader("Content-Length") == str(len(want))
    first = r.read(MIB)
    # the edge reads ahead only as far as the socket buffers let it (a few
    # MiB), far from the end of the file
    with stack.db("migrator") as db, db.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)",
                    (big_export["tenant"]["id"],))
        cur.execute("UPDATE reporting.exports SET expires_at = now()"
                    " WHERE id = %s", (big_export["id"],))
    rest = b""
    with pytest.raises(http.client.IncompleteRead) as cut:
        rest = r.read()
    conn.close()
    got = first + (rest or cut.value.partial)
    assert MIB <= len(got) < len(want)
    assert got == want[:len(got)]
    log = (stack.run_dir / "nginx" / "nginx-error.log").read_text()
    assert ("the service failed in the middle of a continued reply "
            "(status 410)") in log
