"""Out-of-limit parameters are refused before the first command, for every protocol.

For each registered protocol and each station limit, a station whose limit is far tighter than
anything the protocol's defaults need: either the run is refused before a single command
reaches an instrument, with a message naming the parameter, its value and the limit; or the
protocol does not use that limit, and then it must not run into it later either (the run is cut
short after a few hundred bus transactions: no limit error may appear by then).
"""

from __future__ import annotations

import dataclasses
import re
import time

import pytest
from faultkit import protocol_names, write_station

from reramlab.errors import ParameterError, SafetyLimitError
from reramlab.protocols.base import get_protocol
from reramlab.runner import execute, open_bench
from reramlab.sim_backend.audit import audit_all
from reramlab.sim_backend.library import ReramSimLibrary
from reramlab.stations.loader import load_station

TIGHT = {
    "v_bl_max": 0.011,
    "v_sl_max": 0.011,
    "v_wl_max": 0.011,
    "i_compliance_max_a": 1e-9,
    "width_s": [1e-9, 1.1e-9],
    "pulses_per_call_max": 1,
}
BASE_LIMITS = {"v_bl_max": 4.5, "v_sl_max": 4.5, "v_wl_max": 3.5, "i_compliance_max_a": 1e-3,
               "width_s": [5e-9, 10.0], "pulses_per_call_max": 10_000_000}  # fmt: skip
#: how far a run that passed its check is followed (bus transactions, wall seconds)
TRANSACTIONS = 150
FOLLOW_S = 0.25
#: a list sweep is one long transaction on the simulator: the run is cut short before it (its
#: levels were checked by the bench before the list went out)
SWEEP_START = re.compile(rb":INIT|trigger\.initiate")


#: the pulse generators' safe state turns the outputs off, declares a high-Z load and parks each
#: channel at 0 V low / 0.1 V high (their smallest amplitude; the output relay is open, so it never
#: reaches the cell). Below 0.1 V no command can honour a limit; only these stations are that tight.
IDLE_LEVEL = re.compile(
    r":VOLT\d:LOW 0\.000000;:VOLT\d:HIGH 0\.100000|:OUTP1 0;:OUTP2 0;:OUTP\d:LOAD INF"
)


@pytest.fixture(scope="module")
def tight_benches(tmp_path_factory):
    """One small simulated bench per tightened limit (shared by the protocols). Their commands
    are audited here: nothing beyond their limits but the pulse generators' idle level."""
    benches, recorders = {}, []
    registry, ReramSimLibrary.recorders = ReramSimLibrary.recorders, recorders
    try:
        for key, value in TIGHT.items():
            d = tmp_path_factory.mktemp(key)
            path = write_station(d, rows=2, cols=2, name=f"tight-{key}",
                                 limits={**BASE_LIMITS, key: value})  # fmt: skip
            benches[key] = open_bench(load_station(path), sim=True, sim_dir=d)
    finally:
        ReramSimLibrary.recorders = registry
    yield benches
    for _, connected, _ in benches.values():
        connected.close()
    found = [v for v in audit_all(recorders).violations if not IDLE_LEVEL.search(v.command)]
    assert not found, "\n".join(map(str, found))


class CutShort(KeyboardInterrupt):
    """Ends a run that passed its check once it has shown a few hundred transactions."""


@pytest.mark.parametrize("key", list(TIGHT))
@pytest.mark.parametrize("protocol", protocol_names())
def test_beyond_a_station_limit_is_refused_before_the_first_command(
    protocol, key, tight_benches, tmp_path, monkeypatch
) -> None:
    module = get_protocol(protocol)
    fields = [f.name for f in dataclasses.fields(module.Params)]
    _, connected, bench = tight_benches[key]
    lib = connected.simulator
    before = lib.transactions
    transaction = lib.transaction
    seen = {"n": 0, "cut": False}

    t0 = time.monotonic()

    def bounded(instrument, message) -> None:
        transaction(instrument, message)
        seen["n"] += 1
        late = seen["n"] >= TRANSACTIONS or time.monotonic() - t0 > FOLLOW_S
        if (late or SWEEP_START.search(message)) and not seen["cut"]:
            seen["cut"] = True
            raise CutShort

    monkeypatch.setattr(lib, "transaction", bounded)
    try:
        execute(protocol, out=tmp_path / "run.h5", cells="0,0", bench=bench)
    except (SafetyLimitError, ParameterError) as e:
        message = str(e)
        if seen["n"]:
            pytest.fail(
                f"{protocol}: limits.{key} refused only after {seen['n']} commands: {message}"
            )
        assert lib.transactions == before, "a command went out before the refusal"
        assert not (tmp_path / "run.h5").exists() or isinstance(e, ParameterError)
        named = [f for f in fields if re.search(rf"(?<![\w.]){re.escape(f)}\b", message)]
        assert named, f"{protocol}: the refusal names none of the parameters {fields}: {message}"
        assert re.search(r"\d", message), f"no value in: {message}"
        if isinstance(e, SafetyLimitError):
            assert f"limits.{key}" in message, f"the limit is not named: {message}"
    except KeyboardInterrupt:  # CutShort: ran past its check without meeting the limit
        pass
    finally:
        bench.safe()
