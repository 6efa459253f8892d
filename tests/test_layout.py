"""The library's layout: no import cycles, no sibling imports hidden inside functions, layers respected."""
import ast
import pathlib
import re

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "dqngen_lib"

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def readme_layers() -> list[set[str]]:
    """The layers of the README's table 'The library' (``| layer | modules | what they hold |``), bottom first."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.replace(" ", "").startswith("|layer|modules|"))
    layers = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        layers.append(set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[1])))
    return layers


# Lower layers never import upper ones (a module may import its own layer and any lower one).
LAYERS = readme_layers()


def modules():
    out = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).with_suffix("")
        name = ".".join(rel.parts)
        out[name] = path
    return out


def sibling_imports(path: pathlib.Path, name: str):
    """(imported module, inside a function?) for every import of a dqngen_lib module in the file."""
    tree = ast.parse(path.read_text())
    package = name.rsplit(".", 1)[0] if "." in name else ""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[:len(package.split(".")) - (child.level - 1)] if package else []
                    mod = ".".join([*base, *(child.module.split(".") if child.module else [])])
                    targets = [mod] if child.module else [f"{mod}.{a.name}".strip(".") for a in child.names]
                    for t in targets:
                        found.append((t, inner))
                elif child.module and child.module.startswith("dqngen_lib"):
                    found.append((child.module[len("dqngen_lib."):] or "__init__", inner))
            elif isinstance(child, ast.Import):
                for a in child.names:
                    if a.name.startswith("dqngen_lib."):
                        found.append((a.name[len("dqngen_lib."):], inner))
            visit(child, inner)

    visit(tree, False)
    mods = modules()
    resolved = []
    for t, inner in found:
        while t and t not in mods:
            t = t.rsplit(".", 1)[0] if "." in t else ""
        if t and t != name:
            resolved.append((t, inner))
    return resolved


def graph():
    return {name: sibling_imports(path, name) for name, path in modules().items()}


def test_no_sibling_imports_inside_functions():
    hidden = {name: sorted({t for t, inner in deps if inner}) for name, deps in graph().items()}
    hidden = {k: v for k, v in hidden.items() if v}
    assert not hidden, f"imports of dqngen_lib modules made inside functions: {hidden}"


def test_no_import_cycles():
    g = {name: sorted({t for t, _ in deps}) for name, deps in graph().items()}
    state, stack, cycles = {}, [], []

    def dfs(v):
        state[v] = "open"
        stack.append(v)
        for w in g.get(v, []):
            if state.get(w) == "open":
                cycles.append(stack[stack.index(w):] + [w])
            elif w not in state:
                dfs(w)
        stack.pop()
        state[v] = "done"

    for v in g:
        if v not in state:
            dfs(v)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _layer(name):
    top = name.split(".")[0]
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"module {name!r} is in no layer of the README's table 'The library': place it")


@pytest.mark.parametrize("name", sorted(modules()))
def test_lower_layers_never_import_upper_ones(name):
    mine = _layer(name)
    up = sorted({t for t, _ in sibling_imports(modules()[name], name) if _layer(t) > mine})
    assert not up, f"{name} (layer {mine}) imports upper-layer modules {up}"


def test_the_walker_sees_imports():
    g = graph()
    assert ("envs", False) in g["config"] and ("config", False) in g["train"]


def test_the_readme_table_places_every_module_once():
    names = [m for layer in LAYERS for m in layer]
    assert len(LAYERS) >= 8 and len(names) == len(set(names)), f"a module placed twice: {sorted(names)}"
    tops = {name.split(".")[0] for name in modules()}
    assert tops <= set(names), f"modules the README does not place: {sorted(tops - set(names))}"
    assert set(names) <= tops, f"the README places modules that do not exist: {sorted(set(names) - tops)}"
