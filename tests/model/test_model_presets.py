"""Presets: lookup, overrides, and that every number names its source."""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

from reramlab.sim_backend import presets
from reramlab.sim_backend.presets import PRESETS, DevicePreset, get_preset


def test_three_presets_exist():
    assert set(PRESETS) == {"cmo-hfox-130nm", "cmo-hfox-350nm", "hfox-weak-reset"}
    for name, p in PRESETS.items():
        assert p.name == name


def test_override_replaces_a_field_and_keeps_the_rest():
    p = get_preset("cmo-hfox-130nm", g_hi_s=120e-6)
    assert p.g_hi_s == 120e-6
    assert p.nmos_vth_v == PRESETS["cmo-hfox-130nm"].nmos_vth_v
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.g_hi_s = 1.0  # type: ignore[misc]


def test_unknown_name_lists_known_presets():
    with pytest.raises(KeyError, match="cmo-hfox-130nm"):
        get_preset("nope")


def test_unknown_override_is_named():
    with pytest.raises(TypeError, match="g_hi_uS"):
        get_preset("cmo-hfox-350nm", g_hi_uS=1.0)


def test_every_field_comment_names_a_source():
    """Each numeric field of DevicePreset carries [A]..[F], 'assumed' or 'calibrated'."""
    source = inspect.getsource(DevicePreset)
    tag = re.compile(r"#.*(\[[A-F]\]|assumed|calibrated|research|=)")
    for f in dataclasses.fields(DevicePreset):
        if f.name in ("name", "device_class"):
            continue
        line = next(ln for ln in source.splitlines() if re.match(rf"\s+{f.name}:", ln))
        assert tag.search(line), f"field {f.name} has no source comment: {line.strip()}"
    text = inspect.getsource(presets)
    for block in ("_CMO_350NM", "_HFOX_WEAK_RESET"):
        body = text.split(f"{block} = ")[1].split("\n)\n")[0]
        for ln in body.splitlines():
            if re.match(r"\s+\w+=", ln) and "name=" not in ln and "device_class=" not in ln:
                assert "#" in ln or "0.02 *" in ln, f"{block}: {ln.strip()} has no source comment"
