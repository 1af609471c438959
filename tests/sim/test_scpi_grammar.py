"""The SCPI grammar of the simulated instruments: long/short forms, suffixes, parameters."""

import pytest

from reramlab.sim_backend.scpi import (
    Call,
    ScpiError,
    compile_header,
    parse_number,
    rooted,
    split_top,
)


@pytest.mark.parametrize(
    "text",
    [
        ":SOUR:VOLT:LEV",
        ":SOURCE:VOLTAGE:LEVEL",
        "sour:volt",
        ":Sour1:Volt:Lev:Imm:Ampl",
        "SOUR:VOLT:IMM",
    ],
)
def test_long_short_optional_nodes_and_case(text: str) -> None:
    assert compile_header("[:SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]").match(rooted(text))


@pytest.mark.parametrize(
    "text", ["PULS:PER1", ":PULS:PER1", "SOUR:PULS:PER1", ":SOURCE:PULSE:PERIOD1"]
)
def test_leading_optional_node_with_or_without_colon(text: str) -> None:
    assert compile_header("[:SOURce]:PULSe:PERiod#").match(rooted(text))


def test_common_commands_match_rooted_or_not() -> None:
    assert compile_header("*IDN?").match(rooted("*IDN?"))
    assert compile_header("*IDN?").match(":*IDN?")


@pytest.mark.parametrize("text", [":SOURC:VOLT", ":SOUR:VOL", ":SOUR:VOLT?", ":SENS:VOLT"])
def test_rejects_partial_mnemonics_queries_and_other_trees(text: str) -> None:
    assert not compile_header("[:SOURce#]:VOLTage[:LEVel]").match(rooted(text))


def test_numeric_suffix_is_captured() -> None:
    m = compile_header(":OUTPut#:LOAD").match(rooted("OUTP2:LOAD"))
    assert m and m.group(1) == "2"
    m = compile_header(":OUTPut#:LOAD").match(":OUTPUT:LOAD")
    assert m and m.group(1) == ""


def test_split_respects_quotes_and_parentheses() -> None:
    assert split_top(':TRAC:DATA? 1, 5, "def;buf", READ;*OPC?', ";") == [
        ':TRAC:DATA? 1, 5, "def;buf", READ',
        "*OPC?",
    ]
    assert split_top("(@1,2),3", ",") == ["(@1,2)", "3"]


@pytest.mark.parametrize(
    ("raw", "unit", "value"),
    [
        ("60NS", "S", 60e-9),
        ("1.5", "V", 1.5),
        ("2e-3", "", 2e-3),
        ("100MV", "V", 0.1),
        ("3 ", "", 3.0),
    ],
)
def test_numbers_with_si_suffixes(raw: str, unit: str, value: float) -> None:
    assert parse_number(raw, unit) == pytest.approx(value)


@pytest.mark.parametrize(("raw", "code"), [("abc", -104), ("1.2.3", -120), ("nan", -104)])
def test_bad_numbers_raise_scpi_errors(raw: str, code: int) -> None:
    with pytest.raises(ScpiError) as e:
        parse_number(raw)
    assert e.value.code == code


def test_call_range_and_missing_parameter() -> None:
    with pytest.raises(ScpiError) as e:
        Call(":X", (), ["5"]).number(0, lo=0, hi=2)
    assert e.value.code == -222
    with pytest.raises(ScpiError) as e:
        Call(":X", (), []).number(0)
    assert e.value.code == -109
    assert Call(":X", (), ["MAX"]).number(0, special={"MAXimum": 7.0}) == 7.0
    assert Call(":X", (), ["man"]).choice(0, ["IMMediate", "MANual"]) == "MAN"
