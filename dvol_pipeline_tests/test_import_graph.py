"""The package's import graph, read from the source (ast, nothing imported): no cycles, and
the layers keep to their side of the Dagster boundary.

Every `import` counts, also inside functions (a lazy import is still a dependency). An
import of a name a package `__init__` re-exports counts as an import of the module that
defines it, and the `__init__` modules' own re-exports are not edges of the cycle check:
they are an import convenience, not a dependency of the code.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

import dvol_pipeline

ROOT = Path(dvol_pipeline.__file__).parent
PACKAGE = "dvol_pipeline"
NO_DAGSTER = ("quant", "sources", "contracts", "lake", "reports", "pipeline", "serve")


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@lru_cache(maxsize=1)
def _modules() -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package __init__)."""
    return {_module_name(p): (p, p.name == "__init__.py") for p in sorted(ROOT.rglob("*.py"))}


def _imports(name: str) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import statement of `name`, absolute."""
    path, is_package = _modules()[name]
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            module = node.module or ""
            if node.level:
                module = f"{base}.{module}" if module else base
            found.append((module, [alias.name for alias in node.names]))
    return found


@lru_cache(maxsize=1)
def _reexports() -> dict[str, dict[str, str]]:
    """package -> {name: module defining it} from its __init__'s `from x import name`."""
    out: dict[str, dict[str, str]] = {}
    for name, (_, is_package) in _modules().items():
        if is_package:
            out[name] = {n: module for module, names in _imports(name) for n in names if module in _modules()}
            # a lazy __init__ (PEP 562) maps names to submodules in a literal `_EXPORTS` dict
            tree = ast.parse(_modules()[name][0].read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS" for t in node.targets):
                    exports = ast.literal_eval(node.value)
                    out[name].update({n: f"{name}.{sub}" for n, sub in exports.items()})
    return out


def _targets(module: str, names: list[str]) -> set[str]:
    """The package modules an import statement depends on."""
    modules = _modules()
    if module not in modules:
        return set()
    if not names or not modules[module][1]:
        return {module}
    out = set()
    for n in names:
        if f"{module}.{n}" in modules:
            out.add(f"{module}.{n}")  # `from package import submodule`
        else:
            out.add(_reexports()[module].get(n, module))
    return out


@lru_cache(maxsize=1)
def graph() -> dict[str, set[str]]:
    """module -> modules it imports (package __init__ modules: no outgoing edges)."""
    edges = {}
    for name, (_, is_package) in _modules().items():
        deps = set() if is_package else {t for m, ns in _imports(name) for t in _targets(m, ns)}
        edges[name] = deps - {name}
    return edges


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def _under(module: str, layer: str) -> bool:
    return module == f"{PACKAGE}.{layer}" or module.startswith(f"{PACKAGE}.{layer}.")


def test_the_graph_reads_the_package():
    edges = graph()
    assert "dvol_pipeline.quant.learn.registry" in edges["dvol_pipeline.quant.dvol.forecast"]
    assert "dvol_pipeline.quant.learn.ensemble" in edges["dvol_pipeline.quant.learn.registry"]
    # a re-exported name resolves to the module defining it
    assert _targets("dvol_pipeline.quant.dvol.backtest", ["strategy_metrics"]) == {"dvol_pipeline.quant.evaluate.strategy"}
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycles():
    assert _cycle(graph()) is None


def test_models_are_layered_base_families_registry():
    edges = graph()
    models = "dvol_pipeline.quant.learn."
    assert not {d for d in edges[models + "base"] if d.startswith(models)}
    for family in ("naive", "har", "garch", "gbm", "lstm", "ensemble"):
        assert models + "registry" not in edges[models + family], family
        assert models + "ensemble" not in edges[models + family] or family == "ensemble"


def test_no_module_imports_a_private_name_of_another_package_module():
    """A leading underscore keeps a name to its module: another module that needs it gets a public name."""
    offenders = [
        f"{name} imports {module}.{n}"
        for name in _modules()
        for module, names in _imports(name)
        if module.startswith(PACKAGE) and module != name
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert not offenders


def _direct_dagster(module: str) -> bool:
    return any(m == "dagster" or m.startswith(("dagster.", "dagster_")) for m, _ in _imports(module))


def test_the_pure_layers_never_import_dagster():
    """Not directly, and not through another package module (parent __init__s included)."""
    edges, modules = graph(), _modules()
    full = {n: set(e) for n, e in edges.items()}
    for name, (_, is_package) in modules.items():
        if is_package:
            full[name] = {t for m, ns in _imports(name) for t in _targets(m, ns)} - {name}
        parts = name.split(".")
        full[name] |= {".".join(parts[:i]) for i in range(1, len(parts))} & set(modules)  # parents run first
    for name in modules:
        if not any(_under(name, layer) for layer in NO_DAGSTER):
            continue
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            assert not _direct_dagster(current), f"{name} reaches dagster through {current}"
            todo.extend(full.get(current, ()))


def test_lake_imports_nothing_from_quant_sources_reports_or_assets():
    offenders = {
        name: sorted(d for d in deps if any(_under(d, layer) for layer in ("quant", "sources", "reports", "assets", "pipeline")))
        for name, deps in graph().items()
        if _under(name, "lake")
    }
    assert not {n: d for n, d in offenders.items() if d}


# --- lanes -------------------------------------------------------------------------------------
# A lane is a folder of the same name in each layer (quant/<lane>, pipeline/<lane>, assets/<lane>,
# reports/<lane>, lake/<lane>...). The position matters, not the word: quant/pricing/options is the
# core's option pricing, quant/options is the options lane.
LANES = ("dvol", "options", "universe", "micro")
LANE_LAYERS = ("quant", "pipeline", "assets", "reports", "lake", "contracts", "sources", "serve")
# Modules that put every lane together, as `definitions.py` merges their Definitions: the jobs and
# schedules over all groups, the CLI, the one warehouse over every table, the desk tear sheet that
# shows every lane's results side by side and the API's views over every lane. They may import lanes; no lane and no core module imports them.
COMPOSERS = (
    "definitions", "jobs", "schedules", "sensors", "alerts", "cli", "__main__",
    "assets.warehouse", "pipeline.warehouse", "assets.tearsheet", "pipeline.tearsheet", "reports.tearsheet",
    "serve.views",  # the API and dashboard answer for every lane (read-only, from the lake)
)


def lane_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[1:3] == ["lake", "tables"]:  # the table specs: lake/tables/<lane>.py
        parts = parts[:2] + parts[3:]
    return parts[2] if len(parts) > 2 and parts[1] in LANE_LAYERS and parts[2] in LANES else None


def _composer(module: str) -> bool:
    return any(module == f"{PACKAGE}.{c}" for c in COMPOSERS)


def test_lane_of_reads_the_position_not_the_word():
    assert lane_of("dvol_pipeline.quant.options.ivrank.gate") == "options"
    assert lane_of("dvol_pipeline.quant.pricing.options.pricing") is None
    assert lane_of("dvol_pipeline.assets.universe.assets") == "universe"
    assert lane_of("dvol_pipeline.sources.simulated.dvol") is None
    assert lane_of("dvol_pipeline.quant.stats") is None
    assert lane_of("dvol_pipeline.lake.tables.universe") == "universe"
    assert lane_of("dvol_pipeline.lake.tables.layouts") is None


def test_every_lane_has_its_folder_in_quant_pipeline_and_assets():
    modules = _modules()
    for lane in ("dvol", "options", "universe"):
        for layer in ("quant", "pipeline", "assets"):
            assert f"{PACKAGE}.{layer}.{lane}" in modules, f"{layer}/{lane}/ missing"
        assert f"{PACKAGE}.assets.{lane}.definitions" in modules, f"assets/{lane}/definitions.py missing"
        assert f"{PACKAGE}.lake.tables.{lane}" in modules, f"lake/tables/{lane}.py (its table specs) missing"


def test_no_lane_imports_another_lane_and_the_core_imports_no_lane():
    bad = []
    for name, deps in graph().items():
        if _composer(name):
            continue
        mine = lane_of(name)
        for dep in deps:
            theirs = lane_of(dep)
            if theirs is not None and theirs != mine:
                bad.append(f"{name} ({mine or 'core'}) imports {dep} ({theirs})")
    assert not bad, "\n".join(sorted(bad))


def test_nothing_but_a_composer_imports_a_composer():
    bad = [
        f"{name} imports {dep}"
        for name, deps in graph().items() if not _composer(name) and not name.startswith(f"{PACKAGE}.serve")
        for dep in deps if _composer(dep)
    ]
    assert not bad, "\n".join(sorted(bad))


def test_the_top_definitions_merge_one_definitions_per_lane():
    deps = graph()[f"{PACKAGE}.definitions"]
    for lane in ("dvol", "options", "universe"):
        assert f"{PACKAGE}.assets.{lane}.definitions" in deps


def test_no_module_imports_a_private_name_of_another_module():
    bad = []
    for name in _modules():
        for module, names in _imports(name):
            if module.startswith(PACKAGE) and module != name:
                bad += [f"{name}: from {module} import {n}" for n in names if n.startswith("_") and n != "__future__"]
    assert not bad, "\n".join(sorted(bad))


def test_the_code_location_has_one_definitions_object_at_module_scope():
    """Dagster's loader (`dagster dev -w workspace.yaml`) refuses a module with two."""
    import dagster as dg

    import dvol_pipeline.definitions as top

    found = [name for name, value in vars(top).items() if isinstance(value, dg.Definitions)]
    assert found == ["defs"]
