"""The package's structure, read from its source: no import circle between its modules (lazy imports inside
functions and ``TYPE_CHECKING`` imports count: they hide a circle, they do not remove it), and no module reaching
into another module's private members (``other._name``, ``from x import _name``)."""

from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "dexgrasp_env"


def package_modules(root: str = ROOT) -> dict[str, str]:
    """Module name -> source path of every module of the package."""
    out = {}
    for folder, _, files in os.walk(os.path.join(root, PACKAGE)):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                name = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                out[name.removesuffix(".__init__")] = path
    return out


def _imported(node: ast.AST, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """``(module, imported name or None)`` of an import statement, relative imports resolved."""
    if isinstance(node, ast.Import):
        return [(a.name, None) for a in node.names]
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    return [(target, a.name) for a in node.names]


def import_graph(modules: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the package modules it imports, anywhere in its source."""
    graph = {m: set() for m in modules}
    for module, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target, name in _imported(node, module, path.endswith("__init__.py")):
                full = f"{target}.{name}" if name and f"{target}.{name}" in modules else target
                while full and full not in modules:  # an attribute of a module: the module
                    full = full.rpartition(".")[0]
                if full and full != module:
                    graph[module].add(full)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _private_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, module globals and ``self._x`` attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def private_reaches(modules: dict[str, str]) -> list[str]:
    """Places where a module uses a private name that another package module defines and it does not."""
    trees = {}
    for module, path in modules.items():
        with open(path) as f:
            trees[module] = ast.parse(f.read())
    defined = {m: _private_names(t) for m, t in trees.items()}
    out = []
    for module, tree in trees.items():
        others = set().union(*(names for m, names in defined.items() if m != module)) - defined[module]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in others:
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    out.append(f"{modules[module]}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        out.append(f"{modules[module]}:{node.lineno}: from {node.module} import {alias.name}")
    return out


def test_no_import_circles():
    graph = import_graph(package_modules())
    assert len(graph) > 30 and any(graph.values())
    assert circles(graph) == []


def test_no_module_reaches_into_another_modules_private_members():
    assert private_reaches(package_modules()) == []


def test_the_checks_find_a_circle_and_a_private_reach(tmp_path):
    """The two checks on a tiny package with both defects (so that an empty answer above means something)."""
    pkg = tmp_path / PACKAGE
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def _helper():\n    pass\n\n\ndef f():\n    from dexgrasp_env import b\n")
    (pkg / "b.py").write_text("from dexgrasp_env import a\n\n\ndef g(x):\n    a._helper()\n    return x._helper\n")
    modules = package_modules(str(tmp_path))
    assert circles(import_graph(modules)) == [[f"{PACKAGE}.a", f"{PACKAGE}.b"]]
    assert len(private_reaches(modules)) == 2
