"""The test run's groups hold: tests marked ``xdist_group`` run on one worker under
``make test``'s ``-n 2 --dist loadgroup`` (tests sharing a server, a work pool or one
expensive workspace rely on it). A pytest release that breaks the grouping fails here,
not as a slower run or a flaky one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

GROUPED = """
import pytest

pytestmark = pytest.mark.xdist_group("together")


@pytest.mark.parametrize("k", range(8))
def test_one_of_eight(k):
    pass
"""


def test_a_groups_tests_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)

    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p",
         "no:cacheprovider", "test_grouped.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    workers = re.findall(r"^\[(gw\d+)\] .* PASSED test_grouped\.py", run.stdout, re.M)
    assert len(workers) == 8, run.stdout
    assert len(set(workers)) == 1, run.stdout
