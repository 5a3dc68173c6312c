"""Assay's stand-in for MLflow's tests/integration/utils.py: the one helper the module imports."""
from __future__ import annotations

from click.testing import CliRunner


def invoke_cli_runner(*args, **kwargs):
    """Run a click command in-process; a non-zero exit fails the test with the command's output."""
    res = CliRunner().invoke(*args, **kwargs)
    assert res.exit_code == 0, f"Got non-zero exit code {res.exit_code}. Output is: {res.output}"
    return res
