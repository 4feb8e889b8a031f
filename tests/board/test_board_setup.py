"""Set-up as a new user (issue 10 item 12): `make demo` needs nothing but python3 and
python3-venv (its venv has no pyscard, and the demo runs without it); `make test`
installs the Debian packages and the dev + pcsc extras; README names the two commands."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=;! ]", r, maxsplit=1)[0].lower() for r in requirements}


def make_installs(stamp: str) -> set[str]:
    """The extras the Makefile's rule for ``stamp`` installs with pip."""
    rule = MAKEFILE.split(f"$({stamp}):", 1)[1].split("\n\n", 1)[0]
    [extras] = re.findall(r"pip install -q -e '\.\[([a-z,]+)\]'", rule)
    return set(extras.split(","))


def test_the_demo_venv_has_no_pyscard():
    extras = PYPROJECT["project"]["optional-dependencies"]
    demo = make_installs("DEMO_STAMP")
    assert demo == {"host"}
    installed = names(PYPROJECT["project"]["dependencies"])
    for extra in demo:
        installed |= names(extras[extra])
    assert "pyscard" not in installed
    assert names(extras["pcsc"]) == {"pyscard"}
    assert "pyscard" not in names(extras["dev"]) | names(extras["unit"])


def test_make_test_installs_the_pcsc_extra_and_the_debian_packages_first():
    assert {"dev", "pcsc"} <= make_installs("TEST_STAMP")
    rule = MAKEFILE.split("$(TEST_STAMP):", 1)[1].split("\n", 1)[0]
    assert "test-deps" in rule
    script = (ROOT / "scripts" / "test-deps.sh").read_text(encoding="utf-8")
    [packages] = re.findall(r'^PACKAGES="([^"]+)"', script, re.M)
    assert set(packages.split()) == {"pcscd", "vsmartcard-vpcd", "pcsc-tools", "opensc",
                                     "swig", "libpcsclite-dev", "poppler-utils", "tmux",
                                     "shellcheck", "fdisk", "e2fsprogs", "device-tree-compiler",
                                     "chromium", "postgresql"}
    assert "exit 2" in script and "sudo apt-get install -y" in script


def test_ci_runs_lint_typecheck_then_test():
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in run.splitlines() if line.strip().startswith("make")]
    assert commands == ["make lint", "make typecheck", "make test"]


def test_make_typecheck_checks_the_three_packages():
    [recipe] = re.findall(r"^typecheck:.*\n\t(.*)$", MAKEFILE, re.M)
    assert recipe.split() == ["$(VENV)/bin/mypy", "firmware", "board", "host_tools"]


def test_source_has_no_assert_statements():
    """Issue 10 item 11: `python -O` strips asserts, so none may guard control flow."""
    found = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for package in ("firmware", "board", "host_tools")
             for path in sorted((ROOT / package).rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Assert)]
    assert found == []


def test_readme_set_up_is_the_two_commands():
    section = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == [
        "make demo", "make test"]
    assert "apt-get install" not in section.split("```")[0]  # nothing to install by hand first


def test_the_demo_runs_without_pyscard(tmp_path):
    """What the demo venv lacks, made impossible to import here: the day still runs."""
    code = ("import sys; sys.modules['smartcard'] = None\n"
            "from board.main import main\n"
            f"rc = main(['demo', '--state', {str(tmp_path / 'day')!r}])\n"
            "assert 'smartcard' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
            "sys.exit(rc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Demo complete" in done.stdout
