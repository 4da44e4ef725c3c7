"""Every Python and TOML block in README.md and docs/ runs as shown.

Each page's Python blocks run in order in one namespace (later blocks build on earlier ones),
in a fresh interpreter whose working directory is a scratch folder (``tests/_snippet_runner.py``).
A block whose first line is a comment naming a file (``# shop/tasks.py``) is also written
there, so later blocks can import it. ``>>>`` blocks run as doctests. TOML blocks are parsed;
one whose first line is ``# pyproject.toml`` must be a complete project file: it is built
with ``pip wheel`` (as ``pip install .`` would), with the page's named Python files as sources.

An HTML comment on the line(s) before a block changes how it runs:

* ``<!-- snippet: setup=NAME[,NAME] -->`` runs the named setups first (``SETUPS`` in the runner:
  ``manager``, ``postgres``, ``stripe_fake``); the reader sees the objects named in the text.
* ``<!-- snippet: skip reason="..." -->`` does not run the block; the reason is reported as a
  skipped test. Keep these rare: prefer making the block runnable.

Console, text and JSON blocks are not executed, nor MyST directives (``{literalinclude}``,
``{eval-rst}``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "_snippet_runner.py"
SETUPS = frozenset({"manager", "postgres", "stripe_fake"})

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>\{code-block\}\s*)?(?P<lang>[\w-]*)\s*$")
#: Any other MyST directive (``{literalinclude} path``, ``{eval-rst}``): a block, never run.
_OTHER_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*\{(?P<lang>(?!code-block\})[\w-]+)\}.*$")
_DIRECTIVE = re.compile(r"^<!--\s*snippet:\s*(?P<options>.*?)\s*-->\s*$")
_FILE_COMMENT = re.compile(r"^#\s+(?P<path>[\w./-]+\.(?:py|toml))\b")
_PYPROJECT = re.compile(r"^#\s+(?P<path>(?:[\w./-]+/)?pyproject\.toml)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block: its page, first code line (1-based), language, code and options."""

    page: str
    line: int
    lang: str
    code: str
    setup: tuple[str, ...] = ()
    skip: str | None = None
    file: str | None = field(default=None)

    @property
    def label(self) -> str:
        """``page:line``, as shown in test ids and failures."""
        return f"{self.page}:{self.line}"


def _options(page: str, line: int, text: str) -> tuple[tuple[str, ...], str | None]:
    setup: tuple[str, ...] = ()
    skip: str | None = None
    words = shlex.split(text)
    for word in words:
        key, _, value = word.partition("=")
        if key == "setup":
            setup = tuple(name for name in value.split(",") if name)
            unknown = set(setup) - SETUPS
            if unknown:
                raise ValueError(f"{page}:{line}: unknown snippet setup {sorted(unknown)}")
        elif key == "skip":
            continue
        elif key == "reason":
            skip = value
        else:
            raise ValueError(f"{page}:{line}: unknown snippet option {word!r}")
    if "skip" in words and not skip:
        raise ValueError(f'{page}:{line}: a skipped snippet needs reason="..."')
    return setup, skip


def parse_page(path: Path, root: Path = ROOT) -> list[Block]:
    """The Python and TOML blocks of one Markdown page, with their snippet options."""
    page = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: tuple[int, str] | None = None
    index = 0
    while index < len(lines):
        text = lines[index]
        directive = _DIRECTIVE.match(text)
        fence = _FENCE.match(text) or _OTHER_FENCE.match(text)
        if directive:
            pending = (index + 1, directive.group("options"))
        elif fence:
            end = index + 1
            while end < len(lines) and lines[end].strip() != fence.group("fence"):
                end += 1
            lang = fence.group("lang")
            if lang in {"python", "py", "toml"}:
                code = "\n".join(lines[index + 1 : end]) + "\n"
                setup, skip = _options(page, pending[0], pending[1]) if pending else ((), None)
                first = code.lstrip().splitlines()[0] if code.strip() else ""
                named = _FILE_COMMENT.match(first)
                blocks.append(
                    Block(
                        page,
                        index + 2,
                        "toml" if lang == "toml" else "python",
                        code,
                        setup,
                        skip,
                        named.group("path") if named else None,
                    )
                )
            elif pending:
                raise ValueError(f"{page}:{pending[0]}: a snippet comment before a {lang!r} block")
            pending = None
            index = end
        elif text.strip() and pending:
            raise ValueError(f"{page}:{pending[0]}: a snippet comment not followed by a block")
        index += 1
    if pending:
        raise ValueError(f"{page}:{pending[0]}: a snippet comment not followed by a block")
    return blocks


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/ (not the build output)."""
    found = [ROOT / "README.md"]
    found += sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts)
    return found


def _all_blocks() -> Iterator[Block]:
    for path in pages():
        yield from parse_page(path)


PYTHON_PAGES = sorted(
    {block.page for block in _all_blocks() if block.lang == "python" and not block.skip}
)
TOML_BLOCKS = [block for block in _all_blocks() if block.lang == "toml" and not block.skip]
SKIPPED = [block for block in _all_blocks() if block.skip]


def _postgres_database(tmp_path: Path) -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server; dropped afterwards."""
    dsn = os.environ.get("VBWD_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("VBWD_TEST_POSTGRES_DSN is not set (a PostgreSQL page)")
    psycopg = pytest.importorskip("psycopg")
    from psycopg.conninfo import make_conninfo

    name = f"vbwd_docs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(dsn, dbname=name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("page", PYTHON_PAGES)
def test_python_snippets_run(page: str, tmp_path: Path) -> None:
    """The page's Python blocks run, in order, in one namespace, in a scratch directory."""
    blocks = [b for b in parse_page(ROOT / page) if b.lang == "python" and not b.skip]
    spec = {
        "page": str(ROOT / page),
        "blocks": [
            {"line": b.line, "code": b.code, "setup": list(b.setup), "file": b.file} for b in blocks
        ],
    }
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    spec_path = tmp_path / "page.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    # A newcomer's environment: none of the project's variables, no inherited import paths.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("VBWD_") and key not in {"PYTHONPATH", "DATABASE_URL"}
    }
    databases = None
    if any("postgres" in b.setup for b in blocks):
        databases = _postgres_database(tmp_path)
        env["DATABASE_URL"] = next(databases)
    try:
        done = subprocess.run(
            [sys.executable, str(RUNNER), str(spec_path)],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        if databases is not None:
            databases.close()
    assert done.returncode == 0, f"{page}:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("block", TOML_BLOCKS, ids=lambda block: block.label)
def test_toml_snippets_parse(block: Block) -> None:
    """Every TOML block is valid TOML."""
    tomllib.loads(block.code)


PYPROJECTS = [block for block in TOML_BLOCKS if block.file and _PYPROJECT.match(f"# {block.file}")]


@pytest.mark.parametrize("block", PYPROJECTS, ids=lambda block: block.label)
def test_pyproject_snippets_build(block: Block, tmp_path: Path) -> None:
    """A block headed ``# pyproject.toml`` is a complete project file: it builds a wheel."""
    data = tomllib.loads(block.code)
    assert data.get("build-system", {}).get("build-backend"), "no [build-system] build-backend"
    assert {"name", "version"} <= set(data.get("project", {})), "[project] needs name, version"
    (tmp_path / "pyproject.toml").write_text(block.code, encoding="utf-8")
    # The page's named Python files (e.g. ``# src/acme_notify/__init__.py``) are the package.
    for other in parse_page(ROOT / block.page):
        if other.lang == "python" and other.file:
            target = tmp_path / other.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(other.code, encoding="utf-8")
    # What `pip install .` does first: build the wheel in an isolated environment.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", "dist", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{block.label}: the build failed\n{done.stdout}\n{done.stderr}"
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        declared = data["project"].get("entry-points", {}).get("vbwd.plugins", {})
        if declared:
            assert entry_points, f"{block.label}: the wheel has no entry points"
            text = archive.read(entry_points).decode()
            assert "[vbwd.plugins]" in text
        for target in declared.values():
            module = target.partition(":")[0].replace(".", "/")
            assert any(n in names for n in (f"{module}.py", f"{module}/__init__.py")), (
                f"{block.label}: the wheel does not contain {module}"
            )


if SKIPPED:  # none today; an empty parametrization would itself be reported as a skip

    @pytest.mark.parametrize("block", SKIPPED, ids=lambda block: block.label)
    def test_skipped_snippets_say_why(block: Block) -> None:
        """A block marked ``skip`` is reported with its reason (keep these rare)."""
        pytest.skip(f"{block.label}: {block.skip}")


def test_snippet_conventions_are_found(tmp_path: Path) -> None:
    """The parser finds blocks, files, setups and skips, and refuses a dangling comment."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- snippet: setup=manager -->\n```python\nx = 1\n```\n\n"
        '<!-- snippet: skip reason="needs a live account" -->\n\n```python\nlive()\n```\n'
        "```toml\n# pyproject.toml\n[project]\n```\n"
        "~~~{code-block} python\n# pkg/mod.py\ny = 2\n~~~\n"
        "```{literalinclude} mod.py\n:language: python\n```\n```python\nz = 3\n```\n",
        encoding="utf-8",
    )
    found = parse_page(page, tmp_path)
    page.write_text("<!-- snippet: skip -->\n```python\nx\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="reason"):
        parse_page(page, tmp_path)
    page.write_text("<!-- snippet: setup=manager -->\ntext\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not followed"):
        parse_page(page, tmp_path)
    assert [(b.lang, b.line, b.setup, b.skip, b.file) for b in found] == [
        ("python", 3, ("manager",), None, None),
        ("python", 9, (), "needs a live account", None),
        ("toml", 12, (), None, "pyproject.toml"),
        ("python", 16, (), None, "pkg/mod.py"),
        ("python", 23, (), None, None),
    ]


def test_installation_page_lists_every_extra() -> None:
    """docs/installation.md has a row for every extra of every distribution."""
    page = (ROOT / "docs" / "installation.md").read_text(encoding="utf-8")
    core = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    missing = [
        extra
        for extra in core["project"].get("optional-dependencies", {})
        if f"| `{extra}` |" not in page
    ]
    for folder in sorted((ROOT / "plugins").iterdir()):
        if not (folder / "pyproject.toml").exists():
            continue
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        missing += [
            f"{project['name']}[{extra}]"
            for extra in project.get("optional-dependencies", {})
            if f"| `{project['name']}` | `{extra}` |" not in page
        ]
    assert not missing, f"docs/installation.md does not describe these extras: {missing}"
