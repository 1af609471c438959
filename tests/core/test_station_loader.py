"""Station files: shipped ones load; every malformed one gets one error naming file and key."""

from pathlib import Path

import pytest
import yaml

from reramlab.errors import StationError
from reramlab.stations.loader import available_stations, load_station

SIM = yaml.safe_load((Path(__file__).parents[2] / "stations" / "sim.yaml").read_text())


def write(tmp_path: Path, data: dict, name: str = "st.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def mutate(**changes):
    data = yaml.safe_load(yaml.safe_dump(SIM))
    for dotted, value in changes.items():
        node = data
        *path, last = dotted.split("__")
        for k in path:
            node = node[k]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return data


def test_shipped_stations_load() -> None:
    names = available_stations()
    assert {"sim", "sim-350nm", "sim-weak-reset"} <= set(names)
    for name in names:
        st = load_station(name)
        assert st.spec.limits.v_bl_max > 0


def test_extends_overrides_only_what_it_names() -> None:
    base, child = load_station("sim-350nm"), load_station("sim-weak-reset")
    assert child.spec.sim.preset == "hfox-weak-reset"
    assert child.spec.wiring == base.spec.wiring
    assert child.spec.chip.rows == base.spec.chip.rows


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"limitz": {}}, "limitz: unknown key"),
        ({"limits__v_bl_max": "high"}, "limits.v_bl_max"),
        ({"limits__v_bl_max": -1}, "limits.v_bl_max"),
        ({"chip__rows": KeyError}, "chip.rows"),
        (
            {"instruments__smu__driver": "no.such.module:Driver"},
            "instruments.smu.driver: cannot import",
        ),
        ({"instruments__smu__driver": "reramlab.instruments.roles:Nope"}, "has no class 'Nope'"),
        (
            {"wiring__functions__drive": "ghost.1", "wiring__matrix_rows__A": "ghost.1"},
            "names no instrument",
        ),
        ({"wiring__functions__drive": "ghost.1"}, "functions.drive = ghost.1 is on no matrix row"),
        ({"wiring__matrix_rows__Z": "smu.1"}, "matrix row 'Z'"),
        ({"wiring__lines__BL": {"switch": "nowhere"}}, "wiring.lines.BL.switch"),
        ({"wiring__lines__SL": KeyError}, "missing ['SL']"),
        ({"limits__width_s": [1.0, 0.5]}, "limits.width_s"),
        ({"wiring__tsplink": {"smu": 0}}, "TSP-Link node 0 outside 1..64"),
        ({"wiring__tsplink": {"smu": 1, "sw": 1}}, "share a TSP-Link node"),
        ({"wiring__tsplink": {"ghost": 2}}, "wiring.tsplink.ghost: no instrument named 'ghost'"),
        ({"wiring__triggers": {"smu.dio15": "pg"}}, "'<instrument>.dio<N>'"),
        ({"wiring__triggers": {"smu.dio1": "ghost"}}, "triggers.smu.dio1: no instrument named"),
    ],
)
def test_bad_station_files_name_the_key(tmp_path: Path, changes: dict, expected: str) -> None:
    path = write(tmp_path, mutate(**changes))
    with pytest.raises(StationError) as e:
        load_station(path)
    assert str(path) in str(e.value)
    assert expected in str(e.value)


def test_limits_beyond_the_instruments_are_refused(tmp_path: Path) -> None:
    # the 81160A delivers at most 10 V into a high-impedance cell: a 15 V BL limit cannot be met
    path = write(tmp_path, mutate(limits__v_bl_max=15.0))
    with pytest.raises(StationError, match=r"pulse_bl needs up to 15.0 V but pg"):
        load_station(path)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("name: x\ninstruments: [unclosed\n")
    with pytest.raises(StationError, match=r"broken.yaml: line \d+"):
        load_station(p)


def test_unknown_station_lists_the_known_ones() -> None:
    with pytest.raises(StationError, match="not one of"):
        load_station("no-such-bench")


@pytest.mark.parametrize("value", [5, "", ["a.yaml"]])
def test_bad_extends_names_the_key(tmp_path: Path, value) -> None:
    path = write(tmp_path, {**mutate(), "extends": value})
    with pytest.raises(StationError, match=r"extends: expected the path or name of a station file"):
        load_station(path)


# -- protocol defaults of a bench ----------------------------------------------------------------
def test_protocol_defaults_are_settings_of_that_protocol() -> None:
    st = load_station("lab-2636b-81160-707b")
    pv = st.protocol_defaults("program-verify")
    assert pv["width_s"] == "2.5e-06" and pv["v_table"].startswith("1e-05,1.45,-2.1,")
    assert st.protocol_defaults("read") == pv and st.protocol_defaults("forming") == {}
    # another simulated chip: the bench's own chip's defaults no longer apply
    assert st.simulating("cmo-hfox-130nm").protocol_defaults("program-verify") == {}


@pytest.mark.parametrize(
    ("defaults", "expected"),
    [
        ({"cyclng": {"n_cycles": 3}}, r"protocol_defaults\.cyclng: unknown protocol 'cyclng'"),
        ({"program_verify": {"n_levels": 3}}, r"name the protocol as 'program-verify'"),
        ({"cycling": {"n_cycle": 3}}, r"protocol_defaults\.cycling: unknown parameter 'n_cycle'"),
        ({"cycling": {"n_cycles": "many"}}, r"protocol_defaults\.cycling: n_cycles = 'many'"),
        ({"program-verify": {"acceptance": 0.9}}, r"protocol_defaults\.program-verify: accept"),
        ({"cycling": []}, r"protocol_defaults\.cycling"),
    ],
)
def test_bad_protocol_defaults_name_the_file_and_key(tmp_path: Path, defaults, expected) -> None:
    path = write(tmp_path, {**mutate(), "protocol_defaults": defaults})
    with pytest.raises(StationError, match=expected) as e:
        load_station(path)
    assert str(path) in str(e.value)
