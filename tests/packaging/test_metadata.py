"""Release-ready metadata for the three distributions, read from their ``pyproject.toml``
(building the sdists is slow: ``nox -s package`` does that and checks their contents)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PROJECTS = {
    "vbwd-plugins": REPO,
    "vbwd-stripe": REPO / "plugins" / "vbwd-stripe",
    "vbwd-paypal": REPO / "plugins" / "vbwd-paypal",
}
#: Tools for developing this repository, which no user should get from an extra.
DEV_TOOLS = {"mypy", "ruff", "nox", "pytest-timeout", "celery-types", "types-requests"}


def _pyproject(name: str) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((PROJECTS[name] / "pyproject.toml").read_text("utf-8"))
    return data


def _attr_version(root: Path, attr: str) -> str:
    """The literal ``__version__`` the ``attr:`` names, read without importing it."""
    module, _, name = attr.rpartition(".")
    base = root / "src" / Path(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    for node in ast.parse(path.read_text("utf-8")).body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(target, "id", None) for target in node.targets] == [name]
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    raise AssertionError(f"{path} has no literal {name}")


@pytest.mark.parametrize("name", list(PROJECTS))
def test_license_file_ships_with_each_distribution(name: str) -> None:
    """Each distribution declares MIT and ships the MIT LICENSE next to its pyproject."""
    project = _pyproject(name)["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert (PROJECTS[name] / "LICENSE").read_text("utf-8").startswith("MIT License")
    manifest = (PROJECTS[name] / "MANIFEST.in").read_text("utf-8")
    assert re.search(r"^include .*\bCHANGELOG\.md\b.*\bLICENSE\b", manifest, re.M)
    assert re.search(r"^graft tests$", manifest, re.M)
    assert (PROJECTS[name] / "CHANGELOG.md").exists()


@pytest.mark.parametrize("name", list(PROJECTS))
def test_one_source_of_truth_for_the_version(name: str) -> None:
    """The version lives in the package (``attr:``) only, and the installed distribution
    reports that same version."""
    data = _pyproject(name)
    assert "version" not in data["project"] and data["project"]["dynamic"] == ["version"]
    attr = data["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert version(name) == _attr_version(PROJECTS[name], attr)


@pytest.mark.parametrize("name", list(PROJECTS))
def test_python_classifiers(name: str) -> None:
    """The Python classifiers name the versions the suite runs on (this interpreter's among
    them) and agree with requires-python."""
    project = _pyproject(name)["project"]
    versions = {
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in versions
    floor = Version(project["requires-python"].removeprefix(">="))
    assert all(Version(v) >= floor for v in versions)


@pytest.mark.parametrize("name", ["vbwd-stripe", "vbwd-paypal"])
def test_providers_pin_the_core_below_its_next_minor(name: str) -> None:
    """A 0.x core may break plugins in a minor release: providers require ``>=0.1,<0.2``,
    which the core's own version satisfies."""
    project = _pyproject(name)["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        requirements += [Requirement(r) for r in extra]
    core = [r for r in requirements if r.name == "vbwd-plugins"]
    assert core
    for requirement in core:
        assert any(s.operator == "<" for s in requirement.specifier), requirement
        assert requirement.specifier.contains(version("vbwd-plugins"))


@pytest.mark.parametrize("name", list(PROJECTS))
def test_development_tools_are_no_published_extra(name: str) -> None:
    """No extra installs the repository's tools; they are the core's ``dev`` dependency
    group, which the noxfile installs."""
    data = _pyproject(name)
    extras = data["project"].get("optional-dependencies", {})
    assert "dev" not in extras
    for requirements in extras.values():
        assert not {Requirement(r).name for r in requirements} & DEV_TOOLS
    if name == "vbwd-plugins":
        group = {Requirement(r).name for r in data["dependency-groups"]["dev"]}
        assert {"mypy", "ruff", "pytest"} <= group
        assert 'dependency_groups(PYPROJECT, "dev")' in (REPO / "noxfile.py").read_text("utf-8")
