"""Sphinx configuration: MyST pages and an API reference from the docstrings (autodoc).

``nox -s docs`` builds it nitpicky with warnings as errors (``sphinx-build -n -W``), so every
cross-reference must resolve. Each public object is documented once, at its most public path
(the front door ``vbwd_plugins`` first, then its subpackage); a reference through another
public path to the same object is resolved to that entry (``missing-reference`` below).
"""

from __future__ import annotations

import importlib
from typing import Any

project = "vbwd-plugins"
author = "VBWD Team"
copyright = "2026, VBWD Team"
extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
suppress_warnings = ["myst.xref_missing"]
nitpicky = True

autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    # PluginManager and the providers are built from mixins: show what they inherit, but
    # not what comes from Python's or pydantic's own base classes.
    "inherited-members": (
        "object,BaseException,BaseModel,str,int,dict,tuple,Enum,Protocol,Generic,HTTPAdapter"
    ),
}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
add_module_names = False

# Types from outside this project: without intersphinx (it needs the network) they have no
# inventory to link to, so their names in signatures stay plain text.
nitpick_ignore_regex = [
    # The standard library (builtins and ``typing`` are already resolved by Sphinx).
    (
        r"py:.*",
        r"(collections\.abc|datetime|decimal|uuid|pathlib|enum|threading|logging|asyncio|random"
        r"|concurrent\.futures|contextlib|types|re|json|sqlite3|socket|ssl|http|email"
        r"|importlib\.metadata|graphlib|dataclasses|abc|os|io|ipaddress|typing_extensions)"
        r"(\.\w+)*",
    ),
    # Third-party packages the signatures name.
    (
        r"py:.*",
        r"(pydantic|pluggy|packaging|cryptography|psycopg|psycopg_pool|flask|werkzeug|starlette"
        r"|celery|kombu|stripe|requests|urllib3|pytest|_pytest|pytest_httpserver|hypothesis)"
        r"(\.\w+)*",
    ),
    # The same, as signatures name them when the import is only for the type checker.
    (
        r"py:.*",
        r"(UUID|Decimal|datetime|timedelta|Path|ModuleType|EntryPoint|Requirement|Random"
        r"|BaseModel|SecretStr|FilePath|Celery|Starlette)",
    ),
    # Private helpers (a leading underscore: type variables, internal protocols) are not part
    # of the reference; signatures still name them.
    (r"py:.*", r"(\w+\.)*_\w+(\.\w+)*"),
]

# The packages the reference documents, most public first: an object exported by several is
# documented at the first one.
PUBLIC_MODULES = [
    "vbwd_plugins",
    "vbwd_plugins.errors",
    "vbwd_plugins.plugins",
    "vbwd_plugins.events",
    "vbwd_plugins.config",
    "vbwd_plugins.payments",
    "vbwd_plugins.webhooks",
    "vbwd_plugins.delivery",
    "vbwd_plugins.delivery.celery",
    "vbwd_plugins.stores",
    "vbwd_plugins.admin",
    "vbwd_plugins.web",
    "vbwd_plugins.web.flask",
    "vbwd_plugins.web.asgi",
    "vbwd_plugins.testing",
    "vbwd_stripe",
    "vbwd_stripe.testing",
    "vbwd_paypal",
    "vbwd_paypal.testing",
]


def _materialize_lazy_exports() -> None:
    """Put lazily loaded exports (module ``__getattr__``) in their module's namespace, where
    autodoc looks for members (``FakeStripe``, ``ProviderConformanceSuite``, ...)."""
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for export in getattr(module, "__all__", ()):
            if export not in vars(module):
                setattr(module, export, getattr(module, export))


def _signature(
    app: Any, what: str, name: str, obj: object, options: Any, signature: str | None, ret: Any
) -> tuple[str | None, Any] | None:
    """Signatures Sphinx can parse: a pydantic model's fields are listed as its attributes,
    and a dataclass field's ``<factory>`` default reads ``...``."""
    if what == "class" and isinstance(obj, type) and hasattr(obj, "model_fields"):
        return "", ret
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), ret
    return None


def _owner_of() -> dict[int, str]:
    """id(object) -> the first public module (in ``PUBLIC_MODULES`` order) exporting it."""
    owners: dict[int, str] = {}
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        for export in getattr(module, "__all__", ()):
            obj = getattr(module, export)
            if isinstance(obj, type) or callable(obj):  # not constants: equal ints share ids
                owners.setdefault(id(obj), name)
    return owners


_OWNERS: dict[int, str] = {}


def _skip_exported_elsewhere(
    app: Any, what: str, name: str, obj: object, skip: bool, options: Any
) -> bool | None:
    """Skip a module member documented at a more public module (no duplicate entries)."""
    if what != "module" or skip:
        return None
    if not _OWNERS:
        _OWNERS.update(_owner_of())
    module = app.env.temp_data.get("autodoc:module") or app.env.ref_context.get("py:module")
    owner = _OWNERS.get(id(obj))
    if owner is not None and module is not None and owner != module:
        return True
    return None


def _resolve(target: str, module: str | None) -> object | None:
    """The object a dotted ``target`` names, tried relative to ``module`` then absolute."""
    candidates = [target]
    if module:
        parts = module.split(".")
        candidates = [".".join([*parts[:i], target]) for i in range(len(parts), 0, -1)] + [target]
    for dotted in candidates:
        head, _, tail = dotted.partition(".")
        try:
            obj: object = importlib.import_module(head)
        except ImportError:
            continue
        found = True
        for part in tail.split(".") if tail else ():
            try:
                obj = getattr(obj, part)
            except AttributeError:
                try:
                    obj = importlib.import_module(f"{getattr(obj, '__name__', '')}.{part}")
                except ImportError:
                    found = False
                    break
        if found:
            return obj
    return None


def _missing_reference(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a reference made through another public path, or by its short name from a
    module that does not import it, to the one entry of the same object (e.g.
    ``vbwd_plugins.plugins.PluginManager`` or ``MoneyError`` in a docstring)."""
    if node.get("refdomain") != "py":
        return None
    if not _DOCUMENTED:
        for name, entry in env.get_domain("py").objects.items():
            documented = _resolve(name, None)
            if documented is not None and not entry.aliased:
                place = (name, entry.docname, entry.node_id)
                _DOCUMENTED.setdefault(id(documented), place)
                _BY_SHORT_NAME.setdefault(name.rpartition(".")[2], set()).add(place)
    target: str = node.get("reftarget", "").lstrip(".~")
    obj = _resolve(target, node.get("py:module"))
    found = _DOCUMENTED.get(id(obj)) if obj is not None else None
    if found is None:
        # A short name (``MoneyError``, ``FakePayPal.captures``) that names one entry only.
        matches = {
            place
            for place in _BY_SHORT_NAME.get(target.rpartition(".")[2], ())
            if place[0] == target or place[0].endswith(f".{target}")
        }
        if len(matches) != 1:
            return None
        (found,) = matches
    from sphinx.util.nodes import make_refnode

    name, docname, node_id = found
    return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode, name)


_BY_SHORT_NAME: dict[str, set[tuple[str, str, str]]] = {}
_DOCUMENTED: dict[int, tuple[str, str, str]] = {}


def setup(app: Any) -> None:
    """Load the lazy exports and register the hooks above."""
    _materialize_lazy_exports()
    app.connect("autodoc-skip-member", _skip_exported_elsewhere)
    app.connect("autodoc-process-signature", _signature)
    app.connect("missing-reference", _missing_reference)
