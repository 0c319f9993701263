"""The contracts' breaking-change check (proto-breaking.sh): the repository
passes, and a temp copy with a renumbered field, a changed type or a
removed RPC fails while an added field passes."""
import os
import re
import shutil

import pytest

from conftest import HERE, ROOT, run

CHECK = ["bash", os.path.join(HERE, "proto-breaking.sh")]


def copy_with(tmp_path, file, old, new):
    dst = tmp_path / "proto"
    shutil.copytree(os.path.join(ROOT, "proto"), dst)
    p = dst / "lintel" / "v1" / file
    text = p.read_text()
    assert re.search(old, text, re.M), old
    p.write_text(re.sub(old, new, text, count=1, flags=re.M))
    return str(dst)


def test_the_contracts_are_compatible_with_the_baseline():
    r = run(CHECK)
    assert r.returncode == 0, r.stdout + r.stderr


def test_baseline_holds_every_contract():
    cur = sorted(os.listdir(os.path.join(ROOT, "proto", "lintel", "v1")))
    base = sorted(os.listdir(os.path.join(ROOT, "proto", "baseline", "lintel", "v1")))
    assert cur == base


@pytest.mark.parametrize("old,new,says", [
    (r"^  string slug = 3;", "  string slug = 9;", 'field "3" with name "slug"'),
    (r"^  string slug = 3;", "  int64 slug = 3;", 'changed type from "string" to "int64"'),
    (r"^  string slug = 3;", "  string handle = 3;", 'changed option "json_name"'),
])
def test_a_breaking_change_fails(tmp_path, old, new, says):
    r = run(CHECK + [copy_with(tmp_path, "users.proto", old, new)])
    assert r.returncode == 1, r.stdout
    assert says in r.stdout, r.stdout
    assert "new package (proto/lintel/v2)" in r.stderr


def test_a_removed_rpc_fails(tmp_path):
    r = run(CHECK + [copy_with(tmp_path, "users.proto", r"^  rpc ResolveTenant\(.*\n", "")])
    assert r.returncode == 1
    assert "ResolveTenant" in r.stdout


def test_an_added_field_passes(tmp_path):
    r = run(CHECK + [copy_with(tmp_path, "users.proto", r"^  string slug = 3;",
                               "  string slug = 3;\n  string region = 99;")])
    assert r.returncode == 0, r.stdout + r.stderr
