"""Fixtures for the gateway tests: RSA keys, the NNG test service and an
nginx with the Lintel module, on free loopback ports, torn down afterwards.

Builds nothing: `make gateway-test` (or `make`) builds the module and the
test service first; LINTEL_BUILD points at the build directory.
"""

import os
import shutil
import tempfile

import pytest

from gateway_stack import MODULE, SERVICE, Gateway, Key, Service, make_token


@pytest.fixture(scope="session")
def keys():
    return {"main": Key("k1"), "other": Key("k2"), "rogue": Key("k1")}


@pytest.fixture(scope="session")
def workdir():
    assert os.path.exists(MODULE), "build the module first: make gateway"
    assert os.path.exists(SERVICE), "build the test service first: make gateway"
    d = tempfile.mkdtemp(prefix="lintel-gw-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def service(workdir, keys):
    s = Service(workdir, "svc", [keys["main"]])
    yield s
    s.stop()


@pytest.fixture(scope="session")
def gw(workdir, service):
    g = Gateway(os.path.join(workdir, "gw"), service, service)
    yield g
    g.stop()
    assert g.alerts() == [], "\n".join(g.alerts())


@pytest.fixture
def own_stack(tmp_path, keys):
    """A private service + gateway, for tests that stop or break them."""
    made = []

    def make(users_keys=None, tenant_ttl="60s", extra=None, split=False,
             app_args=(), apps=1, lookup_timeout="1s"):
        """A gateway, its users service and its app service(s): the same
        process as users unless split or given app_args; with apps > 1,
        the app upstream has that many servers and `app` is their list."""
        d = str(tmp_path)
        n = len(made)
        users = Service(d, "users%d" % n,
                        [keys["main"]] if users_keys is None else users_keys,
                        extra)
        if apps > 1:
            app = [Service(d, "app%d-%d" % (n, i), [keys["main"]],
                           args=app_args) for i in range(apps)]
            g = Gateway(os.path.join(d, "gw%d" % n), users, app[0],
                        tenant_ttl=tenant_ttl, apps=app,
                        lookup_timeout=lookup_timeout)
        else:
            app = (Service(d, "app%d" % n, [keys["main"]], args=app_args)
                   if split or app_args else users)
            g = Gateway(os.path.join(d, "gw%d" % n), users, app,
                        tenant_ttl=tenant_ttl, lookup_timeout=lookup_timeout)
        made.append((g, users, app))
        return g, users, app

    yield make
    for g, users, app in made:
        g.stop()
        users.stop()
        for a in (app if isinstance(app, list) else [app]):
            if a is not users:
                a.stop()
        assert g.alerts() == [], "\n".join(g.alerts())


@pytest.fixture
def token(keys):
    return make_token(keys["main"])
