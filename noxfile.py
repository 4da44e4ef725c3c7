"""Front door for development: ``nox -s tests lint typecheck docs bench``.

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


def install_project(session: nox.Session, *extras: str) -> None:
    """Install the core (with ``extras``) and every provider with its testing kit, not editable."""
    core = f".[{','.join(extras)}]" if extras else "."
    session.install(core, *[f"{plugin}[testing]" for plugin in PLUGINS])


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suites of the core, both providers and the examples against installed code."""
    install_project(session, "dev", "postgres", "testing", "celery")
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
    install_project(session, "dev", "postgres", "testing", "celery")
    session.run("mypy", *SOURCES)


@nox.session
def docs(session: nox.Session) -> None:
    """Build docs/ to HTML with warnings as errors."""
    session.install("sphinx>=7", "myst-parser>=3")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark; each prints ratios against a baseline measured in the same run."""
    install_project(session, "dev")
    session.install("blinker>=1.7")
    session.run("python", "benchmarks/run.py", *session.posargs)
