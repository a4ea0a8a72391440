"""Runs the TypeScript helpers' table-driven tests (lit_modules/lib/*_test.ts) with node's test runner.

They hold the attention view's maths (head sets, aggregation, renormalisation, causal detection, curve
geometry, colours, URL state), so they belong in the default test run, not only in a separate npm step.
"""
import pathlib
import shutil
import subprocess

import pytest

LIT_MODULES = pathlib.Path(__file__).resolve().parent.parent / "lit_modules"


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="node is not installed")
def test_lit_modules_lib():
  if not (LIT_MODULES / "node_modules" / "typescript").is_dir():
    pytest.fail("lit_modules/node_modules is missing: run ./setup.sh (it runs `npm ci --prefix lit_modules`)")
  proc = subprocess.run(["npm", "test", "--silent"], cwd=LIT_MODULES, capture_output=True, text=True, timeout=300)
  summary = "\n".join(line for line in proc.stdout.splitlines() if line.startswith(("# ", "not ok")))
  assert proc.returncode == 0, f"lit_modules lib tests failed:\n{summary}\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
  assert "# fail 0" in proc.stdout and "# pass " in proc.stdout, summary
