"""The docs work on any machine: no absolute path of the machine they were written on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted([REPO / "README.md", REPO / "CHANGELOG.md", *(REPO / "docs").glob("*.md")])
# Home and work folders of a particular machine (system paths such as /usr/share/datasets are fine).
MACHINE_PATH = re.compile(r"(?<![\w.~$/-])/(?:work|home|Users|root|tmp|mnt|scratch|data)/[\w.-]")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_docs_carry_no_absolute_machine_paths(page):
    found = [
        f"{page.name}:{number}: {line.strip()}"
        for number, line in enumerate(page.read_text().splitlines(), start=1)
        if MACHINE_PATH.search(line)
    ]
    assert not found, "use ../shared/data/mnist or $INFOGAN_DATA_ROOT instead:\n" + "\n".join(found)
