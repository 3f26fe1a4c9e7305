"""The package's module graph: acyclic, and the reference independent of the compiled core.

The graph is read from the source (AST), so it shows every import, also those inside
functions and under ``if TYPE_CHECKING:``; none of them may close a cycle.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / "pydropout"
CORE = "pydropout._core"


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}
KNOWN = set(MODULES) | {CORE}


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name, runtime_only):
    """The pydropout modules ``name`` imports (``runtime_only``: not under TYPE_CHECKING)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()

    def target(base, names):
        subs = {f"{base}.{n}" for n in names} & KNOWN
        found.update(subs)
        if base in KNOWN and (not names or len(subs) < len(names)):  # names from base itself
            found.add(base)

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if runtime_only and isinstance(child, ast.If) and _is_type_checking(child.test):
                for other in child.orelse:
                    visit_one(other)
                continue
            visit_one(child)

    def visit_one(node):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "pydropout":
                    target(alias.name, ())
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "pydropout":
                target(mod, [a.name for a in node.names])
        visit(node)

    visit(ast.parse(path.read_text(), str(path)))
    found.discard(name)
    return found


def _graph(runtime_only=False):
    return {name: _imports(name, runtime_only) for name in MODULES}


def test_the_module_graph_is_acyclic():
    graph = _graph()
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


def _reachable_at_runtime(start):
    """Modules executed by ``import start``: its imports and the parents of each module."""
    graph = _graph(runtime_only=True)
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages
        todo.extend(graph.get(name, ()))
    return seen


def test_nothing_reachable_from_the_reference_imports_the_core():
    reached = _reachable_at_runtime("pydropout.reference")
    assert "pydropout.reference._backend" in reached  # the scan follows the imports
    assert CORE not in reached
    assert "pydropout._compiled" not in reached and "pydropout._load" not in reached


def test_the_compiled_api_is_reached_from_the_package_only_lazily():
    graph = _graph(runtime_only=True)
    assert graph["pydropout"] == set(), "pydropout/__init__.py imports its modules on first use"


@pytest.mark.parametrize("block_core", [False, True])
def test_importing_the_reference_leaves_the_core_unloaded(block_core):
    code = (
        "import sys\n"
        + (
            "sys.modules['pydropout._core'] = None  # as if the extension were not built\n"
            if block_core
            else ""
        )
        + "import numpy as np\n"
        "import pydropout.reference as ref\n"
        "x = np.arange(1, 9, dtype=np.float32)\n"
        "y = ref.dropout(x, 0.5, generator=ref.Generator(0x0123456789ABCDEF))\n"
        "assert y.tolist() == [2, 4, 0, 0, 10, 0, 0, 16], y\n"
        "assert 'pydropout._core' not in sys.modules or sys.modules['pydropout._core'] is None\n"
        "assert 'pydropout._compiled' not in sys.modules\n"
        "print('ok')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr


def _type_checking_names():
    """``{name: (module, attribute path)}`` of the TYPE_CHECKING block of pydropout/__init__.py:
    what type checkers are told each public name is."""
    tree = ast.parse((PKG / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and _is_type_checking(n.test))
    names = {}
    for node in block.body:
        if isinstance(node, ast.ImportFrom):
            module = "pydropout" + ("." + node.module if node.module else "")
            for alias in node.names:
                names[alias.asname or alias.name] = (module, alias.name)
        elif isinstance(node, ast.Assign):  # name = _alias.attr
            (target,), value = node.targets, node.value
            module, attr = names[value.value.id]
            names[target.id] = (module, f"{attr}.{value.attr}")
    return names


def test_the_lazy_names_are_those_type_checkers_see():
    """``pydropout.<name>`` at run time (the lazy homes of __init__) is what the TYPE_CHECKING
    block imports, for every public name."""
    import importlib

    import pydropout

    told = _type_checking_names()
    public = set(pydropout.__all__) - {"__version__"}
    assert public <= set(told), sorted(public - set(told))
    for name in sorted(public):
        module, path = told[name]
        if module == "pydropout":  # a subpackage: ``from . import reference``
            expected = importlib.import_module(f"{module}.{path}")
        else:
            expected = importlib.import_module(module)
            for part in path.split("."):
                expected = getattr(expected, part)
        assert getattr(pydropout, name) == expected, name
