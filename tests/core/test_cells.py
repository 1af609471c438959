"""Cell selections: Python slice syntax over rows and columns, clear errors otherwise."""

import pytest

from reramlab.errors import CellSelectionError
from reramlab.protocols.base import parse_cells


def test_block_and_single_and_all() -> None:
    assert parse_cells("0:2,0:3", 64, 64) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert parse_cells("5,7", 64, 64) == [(5, 7)]
    assert parse_cells("0:8:4,1", 64, 64) == [(0, 1), (4, 1)]
    assert len(parse_cells("all", 8, 8)) == 64


@pytest.mark.parametrize("spec", ["0:8", "a,b", "0:99,0:2", "64,0", "0:8,0:8,1", "3:3,0:2"])
def test_bad_selections(spec: str) -> None:
    with pytest.raises(CellSelectionError, match="--cells"):
        parse_cells(spec, 64, 64)
