"""`reramlab validate`: reference rows measured through the instruments, JSON shape of DESIGN 7.

Subprocesses run outside the checkout (cwd=tmp_path) so they import the installed package."""

import json
import subprocess
import sys


def test_validate_row2_json(tmp_path) -> None:
    res = subprocess.run([sys.executable, "-m", "reramlab.cli", "validate", "--rows", "2", "--json"],
                         capture_output=True, text=True, check=False, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)["rows"]
    assert [r["row"] for r in rows] == [2]
    row = rows[0]
    assert {"row", "protocol", "preset", "metrics", "target", "pass"} <= set(row)
    assert row["protocol"] == "forming" and row["preset"] == "cmo-hfox-350nm"
    assert abs(row["metrics"]["v_form_mean"] - 2.8) <= 0.15 and row["pass"] is True


def test_validate_unknown_row_is_a_clear_error(tmp_path) -> None:
    res = subprocess.run([sys.executable, "-m", "reramlab.cli", "validate", "--rows", "99"],
                         capture_output=True, text=True, check=False, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 2 and "no scenario yet for row(s) [99]" in res.stderr
