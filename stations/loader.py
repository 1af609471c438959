"""Load, validate and connect stations.

``load_station("sim")`` finds a shipped station by name, ``load_station("my.yaml")`` a file.
A file may start with ``extends: other.yaml`` and override keys (deep merge), which is how a
lab keeps a simulator overlay of its bench. Every problem is one ``StationError`` that names the
file, the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reramlab.errors import StationError

from .schema import StationSpec
from .simulate import write_resource_file

SIM_LIBRARY = "@reramsim"


def station_dir() -> Path:
    """Folder of the station files shipped with reramlab."""
    return Path(str(resources.files("reramlab.stations")))


def available_stations() -> list[str]:
    return sorted(p.stem for p in station_dir().glob("*.yaml"))


def resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise StationError(f"{p}: no such station file")
        return p.resolve()
    shipped = station_dir() / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise StationError(
        f"unknown station {str(name_or_path)!r}: not a file, and not one of {available_stations()}"
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise StationError(f"{path}:{where} not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise StationError(f"{path}: expected a mapping of station keys, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _load_raw(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise StationError(f"{path}: 'extends' loops back to itself")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent.strip():
        raise StationError(
            f"{path}: extends: expected the path or name of a station file, got {parent!r}"
        )
    parent_path = resolve(parent if Path(parent).is_absolute() else _sibling(path, parent))
    return _merge(_load_raw(parent_path, (*seen, path)), data)


def _sibling(path: Path, ref: str) -> str:
    candidate = path.parent / ref
    return str(candidate) if candidate.exists() else ref


def _format_validation(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid station file"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


@dataclass
class Station:
    """A validated station file (nothing is connected yet)."""

    spec: StationSpec
    path: Path
    text: str
    driver_classes: dict[str, type] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def simulated_library(self, directory: Path | None = None) -> str:
        """Write this station's simulated bench and return its pyvisa library spec.

        The file name is a hash of the station, so opening the same station twice in one
        process reaches the same simulated chip (pyvisa caches one library per path).
        """
        digest = hashlib.sha1(self.spec.model_dump_json().encode()).hexdigest()[:12]
        directory = directory or Path(tempfile.gettempdir()) / "reramlab-sim"
        directory.mkdir(parents=True, exist_ok=True)
        path = (directory / f"{self.spec.name}-{digest}.yaml").resolve()
        write_resource_file(self.spec, self.driver_classes, path)
        return f"{path}{SIM_LIBRARY}"

    def simulating(self, preset: str) -> Station:
        """This station with another simulated chip (`sim.preset`); its `protocol_defaults`,
        meant for the chip it mounts, are dropped: the protocols' own defaults apply."""
        sim = self.spec.sim.model_copy(update={"preset": preset})
        spec = self.spec.model_copy(update={"sim": sim, "protocol_defaults": {}})
        return dataclasses.replace(self, spec=spec)

    def protocol_defaults(self, protocol: str) -> dict[str, str]:
        """This bench's defaults for `protocol` (`protocol_defaults` in the station file) as
        `--set` strings; raises `StationError` naming the key if a protocol or parameter is
        unknown or a value does not fit its parameter."""
        from reramlab.errors import ParameterError, UnknownProtocolError  # protocols sit above
        from reramlab.protocols.base import get_protocol, make_params

        key = f"{self.path}: protocol_defaults.{protocol}"
        values = self.spec.protocol_defaults.get(protocol, {})
        if not values:
            return {}
        try:
            module = get_protocol(protocol)
        except UnknownProtocolError as e:
            raise StationError(f"{key}: {e}") from None
        if protocol != module.NAME:
            raise StationError(f"{key}: name the protocol as {module.NAME!r}")
        settings = {name: _as_setting(value) for name, value in values.items()}
        try:
            make_params(module, settings)
        except ParameterError as e:
            raise StationError(f"{key}: {e}") from None
        return settings

    def visa_library(self, sim: bool = False, sim_dir: Path | None = None) -> str:
        if sim or self.spec.visa_library == SIM_LIBRARY:
            return self.simulated_library(sim_dir)
        return self.spec.visa_library


def _as_setting(value: str | int | float | bool | list[float]) -> str:
    """A station file's value in the form of `--set key=value` (lists comma-separated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(repr(float(x)) for x in value)
    return str(value)


def load_station(name_or_path: str | Path) -> Station:
    """Load and validate a station file; import (not open) its drivers."""
    path = resolve(name_or_path)
    raw = _load_raw(path)
    try:
        spec = StationSpec.model_validate(raw)
    except ValidationError as e:
        raise StationError(_format_validation(path, e)) from None
    classes = {
        name: import_driver(path, name, inst.driver) for name, inst in spec.instruments.items()
    }
    station = Station(spec, path, path.read_text(), classes)
    check_limits_against_instruments(station)
    for protocol in spec.protocol_defaults:
        station.protocol_defaults(protocol)  # unknown names and bad values fail at load
    return station


def import_driver(path: Path, name: str, ref: str) -> type:
    module_name, _, cls_name = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise StationError(
            f"{path}: instruments.{name}.driver: cannot import {module_name!r} ({e})"
        ) from None
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        raise StationError(
            f"{path}: instruments.{name}.driver: {module_name} has no class {cls_name!r}"
        )
    return cls


def check_limits_against_instruments(station: Station) -> None:
    """Limits that exceed what the wired instruments can do are load-time errors."""
    spec = station.spec
    lim = spec.limits
    needs = {"drive": max(lim.v_bl_max, lim.v_sl_max), "gate": lim.v_wl_max,
             "pulse_bl": lim.v_bl_max, "pulse_sl": lim.v_sl_max}  # fmt: skip
    for fn, term in spec.wiring.functions.items():
        inst = term.split(".")[0]
        cls = station.driver_classes[inst]
        v_max = getattr(cls, "V_MAX_V", None)
        if v_max is not None and needs[fn] > v_max:
            raise StationError(
                f"{station.path}: limits: {fn} needs up to {needs[fn]} V but {inst} "
                f"({cls.__name__}) sources at most {v_max} V"
            )
        i_max = getattr(cls, "I_COMPLIANCE_MAX_A", None)
        if fn == "drive" and i_max is not None and lim.i_compliance_max_a > i_max:
            raise StationError(
                f"{station.path}: limits.i_compliance_max_a = {lim.i_compliance_max_a} A exceeds "
                f"{inst} ({cls.__name__}) maximum {i_max} A"
            )
