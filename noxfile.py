"""Front door for development: ``nox -s tests lint typecheck docs bench package``.

Every session installs the core and both provider distributions as real (non-editable)
distributions, so a missing entry point or package-data file fails here as it would for users.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

ROOT = Path(__file__).parent
PLUGINS = [
    str(path) for path in sorted((ROOT / "plugins").iterdir()) if (path / "pyproject.toml").exists()
]
EXAMPLES = [
    str(path)
    for path in sorted((ROOT / "examples").glob("*"))
    if (path / "pyproject.toml").exists()
]
SOURCES = ["src", *[f"{plugin}/src" for plugin in PLUGINS]]


PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
#: The development tools: pyproject's ``[dependency-groups] dev``, not a published extra.
DEV_TOOLS = nox.project.dependency_groups(PYPROJECT, "dev")


def install_project(session: nox.Session, *extras: str) -> None:
    """Install the core (with ``extras``) and every provider with its testing kit, not editable,
    and the development tools."""
    core = f".[{','.join(extras)}]" if extras else "."
    session.install(core, *[f"{plugin}[testing]" for plugin in PLUGINS], *DEV_TOOLS)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suites of the core, both providers and the examples against installed code."""
    install_project(session, "postgres", "testing", "celery")
    if EXAMPLES:
        session.install(*EXAMPLES)
    env = {"VBWD_TEST_POSTGRES_DSN": os.environ.get("VBWD_TEST_POSTGRES_DSN", "")}
    paths = ["tests", *[f"{plugin}/tests" for plugin in PLUGINS]]
    paths += [f"{example}/tests" for example in EXAMPLES if Path(example, "tests").exists()]
    session.run("pytest", *paths, *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every ``src/`` (core and provider distributions)."""
    install_project(session, "postgres", "testing", "celery")
    session.run("mypy", *SOURCES)


@nox.session
def docs(session: nox.Session) -> None:
    """Build docs/ to HTML, nitpicky (every cross-reference resolves), warnings as errors.

    The API reference imports what it documents: the web adapters (flask, asgi), the Celery
    engine, the testing kits (pytest, the providers' fake servers).
    """
    install_project(session, "flask", "asgi", "celery", "testing")
    session.install("sphinx>=7", "myst-parser>=3")
    session.run(
        "sphinx-build", "-n", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark; each prints ratios against a baseline measured in the same run."""
    install_project(session)
    session.install("blinker>=1.7")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and wheel of the core and both providers into dist/ and check that each
    sdist carries its changelog, license and tests (a release's first step)."""
    import tarfile

    session.install("build>=1.2")
    out = ROOT / "dist"
    for project in [str(ROOT), *PLUGINS]:
        session.run("python", "-m", "build", "--sdist", "--wheel", "--outdir", str(out), project)
    for sdist in sorted(out.glob("*.tar.gz")):
        with tarfile.open(sdist) as tar:
            names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        missing = [need for need in ("CHANGELOG.md", "LICENSE", "README.md") if need not in names]
        if not any(name.startswith("tests/") for name in names):
            missing.append("tests/")
        if missing:
            session.error(f"{sdist.name} lacks {', '.join(missing)}")
        session.log(f"{sdist.name}: changelog, license, readme and tests included")
