"""The public contract, checked on every response of the edge.

conftest.py hands each response the suite receives from the edge to
`CONTRACT.problems()`, which holds it to proto/openapi.yaml as strictly as a
generated client would: the status must be one the operation documents, the
body must be valid against the documented schema with `additionalProperties`
honoured (python3-jsonschema, Draft 2020-12 as OpenAPI 3.1 says), the
documented headers that are required must be there and match their schema,
and no header outside the documented ones and HTTP's own may appear.

A request that names no documented path is held to the `NotFound` answer and
a documented path asked with a method it does not have to `MethodNotAllowed`
(the spec's info.description says so).
"""
import json
import re

import jsonschema
import yaml

from conftest import ROOT

SPEC_PATH = ROOT / "proto" / "openapi.yaml"

# HTTP's own headers and CORS's (info.description): never per operation.
TRANSPORT_HEADERS = {"date", "server", "content-type", "content-length",
                     "connection", "keep-alive", "transfer-encoding", "vary"}
TRANSPORT_PREFIXES = ("access-control-",)
# The edge's on every response (info.description), with these values
# unless the response documents its own.
EDGE_HEADERS = {"cache-control": "no-store",
                "x-content-type-options": "nosniff"}
# The edge serves the web console (web/) outside these, to GET and HEAD.
API_PREFIXES = ("/api/", "/.well-known/", "/rpc")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _format_checker():
    """jsonschema's format checks, with RFC 3339 date-times checked here
    (Debian's jsonschema checks them only with a module it lacks)."""
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time")
    def _date_time(value):
        return not isinstance(value, str) or bool(_RFC3339.match(value))

    return checker


class Contract:
    def __init__(self, spec):
        self.spec = spec
        self.resolver = jsonschema.RefResolver("", spec)
        self.formats = _format_checker()
        # Concrete paths before templated ones, as OpenAPI matches them.
        self.paths = sorted(
            ((re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+",
                                      re.escape(p)) + "$"), p)
             for p in spec["paths"]),
            key=lambda rp: (rp[1].count("{"), rp[1]))

    @classmethod
    def load(cls):
        return cls(yaml.safe_load(SPEC_PATH.read_text()))

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolver.resolve(node["$ref"])[1]
        return node

    def operation(self, method, path):
        """(what, operation or None): the documented operation of a request,
        else the component answer that stands for an unlisted route."""
        templates = [p for rx, p in self.paths if rx.match(path)]
        for p in templates:
            op = self.spec["paths"][p].get(method.lower())
            if op is not None:
                return f"{method.upper()} {p}", op
        name = "MethodNotAllowed" if templates else "NotFound"
        return f"{method.upper()} {path} (unlisted: {name})", {
            "responses": {"405" if templates else "404":
                          {"$ref": f"#/components/responses/{name}"}}}

    def problems(self, method, path, status, headers, body):
        """What in one response the contract does not allow; [] if nothing.
        `headers`: {name: value}; `body`: the bytes received."""
        if is_web_console(method, path, status):
            return []
        what, op = self.operation(method, path)
        spec = op["responses"].get(str(status))
        if spec is None:
            return [f"{what}: status {status} is not documented "
                    f"(documented: {', '.join(sorted(op['responses']))})"]
        spec = self.deref(spec)
        out = []
        got = {k.lower(): v for k, v in headers.items()}
        documented = {}
        for name, h in (spec.get("headers") or {}).items():
            documented[name.lower()] = h = self.deref(h)
            value = got.get(name.lower())
            if value is None:
                if h.get("required"):
                    out.append(f"{what} → {status}: header {name} missing")
                continue
            schema = h.get("schema", {})
            if schema.get("type") == "integer" and value.isdigit():
                value = int(value)
            for e in self._errors(schema, value):
                out.append(f"{what} → {status}: header {name}: {e}")
        for name, value in EDGE_HEADERS.items():
            if name not in documented and got.get(name) != value:
                out.append(f"{what} → {status}: header {name} is "
                           f"{got.get(name)!r}, not {value!r}")
        for name in got:
            if (name not in documented and name not in TRANSPORT_HEADERS
                    and name not in EDGE_HEADERS
                    and not name.startswith(TRANSPORT_PREFIXES)):
                out.append(f"{what} → {status}: header {name} is not "
                           "documented")
        content = spec.get("content")
        if not content:
            if body:
                out.append(f"{what} → {status}: a body where none is "
                           f"documented: {body[:200]!r}")
            return out
        ctype = got.get("content-type", "").split(";")[0].strip()
        if ctype not in content:
            return out + [f"{what} → {status}: Content-Type {ctype!r}, "
                          f"documented: {', '.join(content)}"]
        if not ctype.endswith("json"):
            if ctype.startswith("text/"):
                # A file (an export's CSV): its Content-Type is what is
                # checked, and that it is text in the charset it names.
                try:
                    body.decode("utf-8")
                except UnicodeDecodeError:
                    out.append(f"{what} → {status}: {ctype} body is not UTF-8")
            elif not body:
                # a document (an invoice's PDF): its type is the contract
                out.append(f"{what} → {status}: an empty {ctype} body")
            return out
        try:
            doc = json.loads(body)
        except ValueError:
            return out + [f"{what} → {status}: body is not JSON: "
                          f"{body[:200]!r}"]
        for e in self._errors(content[ctype].get("schema", {}), doc):
            out.append(f"{what} → {status}: body: {e}")
        err = doc.get("error") if isinstance(doc, dict) else None
        if (isinstance(err, dict) and "x-request-id" in got
                and err.get("request_id") != got["x-request-id"]):
            out.append(f"{what} → {status}: error.request_id is not the "
                       "X-Request-Id")
        return out

    def _errors(self, schema, instance):
        v = jsonschema.Draft202012Validator(schema, resolver=self.resolver,
                                            format_checker=self.formats)
        return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: "
                f"{e.message}"
                for e in sorted(v.iter_errors(instance), key=str)]


CONTRACT = Contract.load()


def is_web_console(method, path, status):
    """A file of the web console, or its index.html for one of its routes
    (info.description): outside the API's contract."""
    return (method.upper() in ("GET", "HEAD") and status in (200, 304)
            and not path.lower().startswith(API_PREFIXES))
