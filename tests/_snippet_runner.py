"""Runs one page's Python snippets in order, in one namespace (started by test_docs_snippets).

Usage: ``python _snippet_runner.py PAGE.json``, with the working directory set to a scratch
folder. The JSON holds the page path and its blocks: ``{"line", "code", "setup", "file"}``.
A block whose first non-blank line starts with ``>>>`` runs as a doctest (its output is
checked); any other block is executed. A ``file`` block is also written to that path (relative
to the scratch folder, which is first on ``sys.path``) so later blocks can import it.
Tracebacks point at the Markdown line. Exit status 0 when every block ran.
"""

from __future__ import annotations

import doctest
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

Namespace = dict[str, Any]


def _manager(namespace: Namespace) -> None:
    """``manager``: a PluginManager on a SQLite store in the scratch folder, discovered."""
    from vbwd_plugins import PluginManager, SQLiteStateStore

    manager = PluginManager(store=SQLiteStateStore("setup-manager.sqlite3"))
    manager.discover()
    namespace["manager"] = manager


def _postgres(namespace: Namespace) -> None:
    """``DATABASE_URL``: an empty PostgreSQL database (set up by the test)."""
    if not os.environ.get("DATABASE_URL"):
        raise RuntimeError("the postgres setup needs DATABASE_URL (the test sets it)")


def _stripe_fake(namespace: Namespace) -> None:
    """``manager`` (the page's, else a new one) with ``stripe`` enabled on a fake Stripe API.

    The fake (``vbwd_stripe.testing.FakeStripe``, also ``fake_stripe``) listens on 127.0.0.1.
    """
    import atexit

    from pytest_httpserver import HTTPServer
    from vbwd_stripe.testing import FakeStripe

    from vbwd_plugins import PluginManager, SQLiteStateStore

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    atexit.register(server.stop)
    fake = FakeStripe(server, "sk_test_docs_snippets_0001").install()
    config = {
        "api_key": fake.api_key,
        "webhook_secret": "whsec_docs_snippets",
        "api_base": fake.url,
    }
    manager = namespace.get("manager")
    if manager is None:
        manager = PluginManager(store=SQLiteStateStore("setup-stripe.sqlite3"))
        manager.discover()
    if any(plugin.metadata.name == "stripe" for plugin in manager.get_enabled_plugins()):
        manager.configure_plugin("stripe", config)  # the page's manager, now on the fake
    else:
        manager.enable_plugins(["stripe"], configs={"stripe": config})
    namespace.update(manager=manager, fake_stripe=fake)


SETUPS: dict[str, Callable[[Namespace], None]] = {
    "manager": _manager,
    "postgres": _postgres,
    "stripe_fake": _stripe_fake,
}


def _run_block(page: str, block: dict[str, Any], namespace: Namespace) -> None:
    code: str = block["code"]
    line: int = block["line"]
    if block.get("file"):
        target = Path(block["file"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code, encoding="utf-8")
    if code.lstrip().startswith(">>>"):
        parser = doctest.DocTestParser()
        test = parser.get_doctest(code, namespace, f"{page}:{line}", page, line - 1)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test, clear_globs=False)
        if runner.failures:
            raise AssertionError(f"{runner.failures} doctest example(s) failed (output above)")
        return
    # Padding keeps the Markdown line numbers in tracebacks.
    exec(compile("\n" * (line - 1) + code, page, "exec", dont_inherit=True), namespace)


def main(spec_path: str) -> int:
    """Run every block of the page; report the first failure with its Markdown line."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    page: str = spec["page"]
    sys.path.insert(0, os.getcwd())
    namespace: Namespace = {"__name__": "__snippet__"}
    for block in spec["blocks"]:
        try:
            for name in block["setup"]:
                SETUPS[name](namespace)
            _run_block(page, block, namespace)
        except BaseException as exc:
            print(f"FAILED: the block at {page}:{block['line']}", file=sys.stderr)
            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
                tb = tb.tb_next  # the runner's own frames say nothing about the page
            traceback.print_exception(type(exc), exc, tb)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
