"""Continued replies: a body too large for one message comes in parts, one
request each on the same connection (Response.continuation), and the edge
streams the parts as one body of the length the first part promised.  The
service is lintel-test-service's /parts/<n>/<k>: n bytes of the 0..255
pattern, k bytes a part.
"""

import socket
import time

from gateway_stack import BASE, assert_error

from test_gateway_upstream import (MIB, pattern, peak_rss_kib, wait_until,
                                   worker_pids)


def raw_get(gw, path, token, read=None):
    """GET on a socket of its own: (status, headers, body), the body as far
    as the edge sent it before it closed the connection (or `read` bytes,
    after which the client leaves)."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: acme.%s\r\n"
               "Authorization: Bearer %s\r\nConnection: close\r\n\r\n"
               % (path, BASE, token)).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    while read is None or len(body) < read:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.close()
    return int(lines[0].split()[1]), headers, body


def stats(gw, token):
    return gw.get("/stats", token=token).json()


def test_the_parts_reach_the_client_in_order_as_one_body(gw, token):
    n, part = 1000003, 65536
    before = stats(gw, token)
    r = gw.get("/parts/%d/%d" % (n, part), token=token)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(n)
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"] == 'attachment; filename="parts.bin"'
    assert r.content == pattern(n)
    after = stats(gw, token)
    # one request per part (plus the /stats call), on one connection
    assert after["edge_calls"] - before["edge_calls"] == -(-n // part) + 1
    assert after["pipes_opened"] - before["pipes_opened"] <= 1


def test_a_finished_continued_reply_leaves_its_connection_reusable(gw, token):
    gw.get("/parts/300000/100000", token=token)
    before = stats(gw, token)
    for _ in range(5):
        r = gw.get("/parts/300000/100000", token=token)
        assert r.content == pattern(300000)
    # nginx's worker count bounds the connections, whichever gets the call
    assert stats(gw, token)["pipes_opened"] - before["pipes_opened"] <= 1


def test_a_50_mib_continued_reply_streams_through_a_worker(gw, token):
    before = {p: peak_rss_kib(p) for p in worker_pids(gw)}
    r = gw.get("/parts/%d/%d" % (50 * MIB, MIB), token=token, stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(50 * MIB)
    got = 0
    block = pattern(64 * 1024 + 256)
    for chunk in r.iter_content(64 * 1024):
        assert chunk == block[got % 256:got % 256 + len(chunk)], got
        got += len(chunk)
    assert got == 50 * MIB
    growth = max(peak_rss_kib(p) - before[p] for p in before)
    assert growth < 16 * 1024, "a worker's peak RSS grew by %d KiB" % growth


def test_a_client_that_leaves_mid_stream_stops_the_chain(gw, token):
    n, part = 64 * MIB, 256 * 1024
    before = stats(gw, token)["edge_calls"]
    status, headers, body = raw_get(
        gw, "/parts/%d/%d?delay_ms=20" % (n, part), token, read=MIB)
    assert status == 200 and headers["content-length"] == str(n)
    assert body[:MIB] == pattern(MIB)

    # the edge asks for no part after the client has gone
    def settled():
        a = stats(gw, token)["edge_calls"]
        time.sleep(0.3)
        return stats(gw, token)["edge_calls"] == a + 1
    wait_until(settled, what="the chain to stop")
    asked = stats(gw, token)["edge_calls"] - before
    assert asked < n // part // 2, asked
    assert gw.alerts() == [], gw.alerts()
    assert gw.get("/parts/1000/100", token=token).content == pattern(1000)


def test_a_service_failure_mid_stream_cuts_the_clients_connection(gw, token):
    n, part = MIB, 65536
    status, headers, body = raw_get(gw, "/parts/%d/%d?fail=5" % (n, part),
                                    token)
    # the headers were sent: the client sees a body cut short, exactly
    # the four good parts
    assert status == 200 and headers["content-length"] == str(n)
    assert body == pattern(4 * part)
    assert ("the service failed in the middle of a continued reply "
            "(status 500)") in gw.error_log()
    assert gw.alerts() == [], gw.alerts()
    assert gw.get("/parts/1000/100", token=token).content == pattern(1000)


def test_parts_that_fall_short_of_the_promised_length_cut_the_connection(
        gw, token):
    status, headers, body = raw_get(gw, "/parts/300000/65536?short=1", token)
    assert status == 200 and headers["content-length"] == "300001"
    assert body == pattern(300000)
    assert "continued reply ended 1 bytes short" in gw.error_log()
    assert gw.alerts() == [], gw.alerts()


def test_a_first_part_that_promises_no_more_than_itself_is_502(gw, token):
    # nothing was sent yet: an ordinary bad reply, a JSON error
    assert_error(gw.get("/parts/1000/100?first_total=100", token=token), 502,
                 "bad_gateway")
    assert "bad continued reply from the service" in gw.error_log()
    assert gw.get("/parts/1000/100", token=token).content == pattern(1000)
