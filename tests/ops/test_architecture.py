"""The layers of hubweb, checked from the source: no import cycle, and no lower
layer importing a higher one (README, "Architecture").

Imports are read with :mod:`ast` (every ``import`` statement, also those inside
functions), so a deferred import that would close a cycle counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hubweb"

#: The web layer: views, blueprints, replies. The domain never imports these.
WEB = ("hubweb.auth", "hubweb.settings", "hubweb.views", "hubweb.htmx", "hubweb.replies",
       "hubweb.errors")
#: What Flask offers only to views (a request, its session, replies).
FLASK_VIEW_NAMES = {"Blueprint", "request", "session", "redirect", "render_template",
                    "url_for", "g", "flash", "abort", "make_response", "Response"}
#: Below the web layer: the second factors, and the session store.
LOWER = {
    "hubweb.twostep": WEB,
    "hubweb.sessions": ("hubweb.auth", "hubweb.settings"),
    "hubweb.session_states": WEB + ("hubweb.sessions",),
    "hubweb.session_factors": WEB + ("hubweb.sessions",),
    "hubweb.session_values": WEB + ("hubweb.twostep",),
    "hubweb.models": WEB + ("hubweb.sessions", "hubweb.twostep"),
    "hubweb.trusted_browsers": WEB,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, set[str]]]:
    """``(module imported, names taken from it)`` for every import in ``path``."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, set()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub, set()) if sub in MODULES else (target, {alias.name}))
    return found


def _own(module: str) -> str | None:
    """The hubweb module that ``module`` names (its nearest existing parent)."""
    while module and module not in MODULES:
        module = module.rpartition(".")[0]
    return module or None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        targets = {_own(target) for target, _ in _imports(name, path)}
        graph[name] = {t for t in targets if t and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_no_module_of_hubweb_is_part_of_an_import_cycle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("lower", sorted(LOWER))
def test_a_lower_layer_imports_no_higher_one(lower):
    bad = []
    for name, path in MODULES.items():
        if not _within(name, lower):
            continue
        for target, names in _imports(name, path):
            if any(_within(target, higher) for higher in LOWER[lower]):
                bad.append((name, target))
            if target == "flask" and names & FLASK_VIEW_NAMES and lower == "hubweb.twostep":
                bad.append((name, f"flask: {sorted(names & FLASK_VIEW_NAMES)}"))
    assert bad == []


def test_the_second_step_names_no_factor():
    """The second step asks the registry (hubweb.twostep.factors.FACTORS)."""
    for module in ("hubweb.auth.second_step", "hubweb.auth.second_step_views",
                   "hubweb.auth.verify", "hubweb.auth.recovery"):
        imported = {target for target, _ in _imports(module, MODULES[module])}
        assert not imported & {"hubweb.twostep.smscodes", "hubweb.twostep.appcodes"}, module
        source = MODULES[module].read_text()
        assert "'sms'" not in source and '"sms"' not in source, module
        assert "'app'" not in source and '"app"' not in source, module
