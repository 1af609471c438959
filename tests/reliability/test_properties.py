"""Property-based tests of bad input: station files and protocol parameters.

- Generated station files that are valid load; mutated ones (a key deleted, a value of the
  wrong type or out of range, an unknown key) either still load or raise StationError naming
  the file and the key: never another exception.
- Generated parameter sets for every protocol (as `--set` strings): values within the declared
  ranges construct or raise ParameterError naming a parameter; one invalid value (out of range,
  not a number, not finite, wrong type, not a choice) raises ParameterError naming that
  parameter; an unknown name raises ParameterError naming it.
"""

from __future__ import annotations

import atexit
import copy
import dataclasses
import math
import re
import shutil
import tempfile
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from faultkit import protocol_names
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reramlab.errors import ParameterError, StationError
from reramlab.protocols.base import get_protocol, make_params
from reramlab.stations.loader import load_station, station_dir

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
BASES = ["sim", "lab-2450-81160-707b", "lab-b2902-33600-707b", "lab-2636b-81160-707b"]
_DIR = Path(tempfile.mkdtemp(prefix="reramlab-stations-"))
atexit.register(shutil.rmtree, _DIR, True)


def raw_station(name: str) -> dict[str, Any]:
    return yaml.safe_load((station_dir() / f"{name}.yaml").read_text())


@st.composite
def valid_stations(draw) -> dict[str, Any]:
    data = copy.deepcopy(raw_station(draw(st.sampled_from(BASES))))
    data["name"] = draw(st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True))
    data["chip"]["rows"] = draw(st.integers(1, 8))
    data["chip"]["cols"] = draw(st.integers(1, 8))
    lim = data["limits"]
    lim["v_bl_max"] = draw(st.floats(0.01, 10.0))
    lim["v_sl_max"] = draw(st.floats(0.01, 10.0))
    lim["v_wl_max"] = draw(st.floats(0.01, 10.0))
    lim["i_compliance_max_a"] = draw(st.floats(1e-9, 0.1))
    lo = draw(st.floats(1e-9, 1e-3))
    lim["width_s"] = [lo, draw(st.floats(2 * lo, 100.0))]
    lim["pulses_per_call_max"] = draw(st.integers(1, 10**9))
    data.setdefault("sim", {})["seed"] = draw(st.integers(0, 2**31))
    return data


def write(data: Any, name: str = "station.yaml") -> Path:
    path = _DIR / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested mapping (list items by index)."""
    out = []
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for k, v in items:
        out.append((*prefix, k))
        out.extend(paths(v, (*prefix, k)))
    return out


WRONG = [None, "x", -1, 1e30, [1, 2], {"a": 1}, True, "", 0]


@given(data=valid_stations())
@SETTINGS
def test_valid_station_files_load(data) -> None:
    st_ = load_station(write(data))
    assert st_.spec.chip.rows == data["chip"]["rows"]


@given(data=valid_stations(), choice=st.data())
@SETTINGS
def test_mutated_station_files_raise_a_station_error_naming_the_key(data, choice) -> None:
    path = choice.draw(st.sampled_from(paths(data)))
    action = choice.draw(st.sampled_from(["delete", "wrong", "unknown"]))
    parent = data
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    if action == "delete":
        if isinstance(parent, list):
            parent.pop(key)
        else:
            del parent[key]
    elif action == "wrong":
        parent[key] = choice.draw(st.sampled_from(WRONG))
    else:
        target = parent[key] if isinstance(parent[key], dict) else parent
        if not isinstance(target, dict):
            target = data
        target["bogus_key"] = 1
    file = write(data)
    try:
        load_station(file)
    except StationError as e:
        message = str(e)
        assert str(file) in message, message
        named = [str(p) for p in path] + ["bogus_key"]
        assert any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", message) for n in named), (
            f"{action} {'.'.join(map(str, path))}: the error names none of {named}: {message}"
        )


# -- protocol parameters -----------------------------------------------------------------------
def fields(module) -> list[tuple[str, Any, dataclasses.Field]]:
    hints = typing.get_type_hints(module.Params)
    return [(f.name, typing.get_origin(hints[f.name]) or hints[f.name], f)
            for f in dataclasses.fields(module.Params)]  # fmt: skip


def in_range(typ: Any, f: dataclasses.Field) -> st.SearchStrategy[str]:
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    if typ is bool:
        return st.sampled_from(["true", "false", "1", "0"])
    if typ is int:
        return st.integers(int(math.ceil(lo if lo is not None else 0)),
                           int(hi if hi is not None else 10**6)).map(str)  # fmt: skip
    if typ is float:
        lo_ = lo if lo is not None else -1e3
        hi_ = hi if hi is not None else 1e3
        return st.floats(lo_, hi_, allow_nan=False).map(repr)
    default = f.default
    if typ is tuple:
        return st.just(",".join(repr(float(x)) for x in default))
    return st.just(str(default))


def invalid(typ: Any, f: dataclasses.Field) -> st.SearchStrategy[str]:
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    if typ is bool:
        return st.sampled_from(["maybe", "2", "", "on-ish"])
    if typ is tuple:
        return st.sampled_from(["a,b", "1,nan", "inf", "1;2"])
    if typ is str:
        return st.sampled_from(["no-such-choice", "", "1e3"])
    options = [st.sampled_from(["abc", "", "1e", "nan", "inf", "-inf"])]
    if hi is not None:
        options.append(st.floats(hi + max(1.0, abs(hi)) * 1e-3, hi * 10 + 10).map(repr))
    if lo is not None:
        options.append(st.floats(lo - 10 - abs(lo) * 10, lo - max(1.0, abs(lo)) * 1e-3).map(repr))
    if typ is int:
        options.append(st.just("1.5"))
    return st.one_of(options)


@pytest.mark.parametrize("protocol", protocol_names())
@given(choice=st.data())
@SETTINGS
def test_parameters_within_their_ranges_construct_or_name_a_parameter(protocol, choice) -> None:
    module = get_protocol(protocol)
    specs = fields(module)
    names = [n for n, _, _ in specs]
    chosen = choice.draw(st.lists(st.sampled_from(names), unique=True, max_size=6))
    sets = {n: choice.draw(in_range(t, f), label=n) for n, t, f in specs if n in chosen}
    try:
        make_params(module, sets)
    except ParameterError as e:
        assert any(re.search(rf"(?<![\w]){n}(?![\w])", str(e)) for n in names), str(e)


@pytest.mark.parametrize("protocol", protocol_names())
@given(choice=st.data())
@SETTINGS
def test_an_invalid_parameter_is_refused_naming_it(protocol, choice) -> None:
    module = get_protocol(protocol)
    specs = fields(module)
    name, typ, f = choice.draw(st.sampled_from(specs))
    raw = choice.draw(invalid(typ, f), label=name)
    with pytest.raises(ParameterError) as err:
        make_params(module, {name: raw})
    assert re.search(rf"(?<![\w]){name}(?![\w])", str(err.value)), str(err.value)


@pytest.mark.parametrize("protocol", protocol_names())
@given(name=st.from_regex(r"[a-z_]{1,12}", fullmatch=True))
@SETTINGS
def test_an_unknown_parameter_is_refused_naming_it(protocol, name) -> None:
    module = get_protocol(protocol)
    assume(name not in {f.name for f in dataclasses.fields(module.Params)})
    with pytest.raises(ParameterError, match=f"unknown parameter '{name}'"):
        make_params(module, {name: "1"})
