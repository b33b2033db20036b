"""Reads every module of a package tree and checks turnout's import rules (docs/architecture.md).

Imports are read with `ast`, at module level and inside functions alike (a lazy import is still a
dependency); imports under `if TYPE_CHECKING:` are ignored. `find_violations(root)` returns one
sentence per broken rule, so a test can show both a clean tree and a tree with a planted
forbidden import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

# Lowest first: a module may import its own package and lower layers. Sibling packages of one
# layer (`drain` and `verify`) do not import each other, except the pairs in SAME_LAYER_ALLOWED.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("turnout", "turnout.errors", "turnout.project"),
    ("turnout.spec", "turnout.aws", "turnout.hooks", "turnout.producer"),
    (
        "turnout.apis",
        "turnout.consumers",
        "turnout.kcl_read_across",
        "turnout.datastores",
        "turnout.decommission",
        "turnout.inventory",
        "turnout.deploy",
        "turnout.drain",
        "turnout.verify",
        "turnout.discover",
        "turnout.preflight",
    ),
    ("turnout.engine",),
    ("turnout.report",),
    ("turnout.sandbox",),
    ("turnout.targets",),
    ("turnout.cli",),
)
SAME_LAYER_ALLOWED = {
    ("turnout.aws", "turnout.spec"),  # AwsAccess reads the spec's accounts and regions
}
SANDBOX_IMPORTERS = ("turnout.targets", "turnout.cli", "turnout.sandbox")
NO_CLI_FRAMEWORK = ("turnout.engine",)
SELF_CONTAINED = ("turnout.lambdas",)
# The producer helper runs in the user's producers: boto3 only, so it can be vendored as one file.
VENDORABLE = ("turnout.producer",)


@dataclass
class ModuleImports:
    name: str
    path: Path
    imports: set[str] = field(default_factory=set)  # turnout modules this module imports
    externals: set[str] = field(default_factory=set)  # top-level names of other packages
    private: list[str] = field(default_factory=list)  # "turnout.x._name" imported or used


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_tree(root: Path) -> dict[str, ModuleImports]:
    """Every module under `root` (the `turnout` package directory) with what it imports."""
    modules: dict[str, ModuleImports] = {}
    for path in sorted(root.rglob("*.py")):
        name = module_name(root, path)
        modules[name] = read_module(name, path, is_package=path.name == "__init__.py")
    known = set(modules)
    for found in modules.values():
        found.imports = {resolve(target, known) for target in found.imports}
    return modules


def read_module(name: str, path: Path, is_package: bool) -> ModuleImports:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = ModuleImports(name, path)
    package = name if is_package else name.rpartition(".")[0]
    aliases: dict[str, str] = {}
    nodes = list(_walk_outside_type_checking(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                _note(found, alias.name, None)
                if alias.name.startswith("turnout"):
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            for alias in node.names:
                _note(found, base, alias.name)
                if base.startswith("turnout"):
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    for node in nodes:
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            target = aliases.get(owner or "")
            if target and not node.attr.startswith("__"):
                found.private.append(f"{target}.{node.attr}")
    return found


def _walk_outside_type_checking(tree: ast.AST):
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def _note(found: ModuleImports, module: str, symbol: str | None) -> None:
    if not module.startswith("turnout") or module.split(".")[0] != "turnout":
        found.externals.add(module.split(".")[0])
        return
    found.imports.add(f"{module}.{symbol}" if symbol and symbol != "*" else module)
    if symbol and symbol.startswith("_") and not symbol.startswith("__"):
        found.private.append(f"{module}.{symbol}")


def resolve(target: str, known: set[str]) -> str:
    """`turnout.a.b.name` -> the longest known module prefix (`turnout.a.b` or `turnout.a.b.name`)."""
    candidate = target
    while candidate and candidate not in known:
        candidate = candidate.rpartition(".")[0]
    return candidate or target


def layer_of(module: str) -> tuple[int, str]:
    best: tuple[int, str] = (-1, "")
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > len(best[1]):
                best = (index, prefix)
    return best


def find_violations(root: Path) -> list[str]:
    modules = read_tree(root)
    problems: list[str] = []
    for found in modules.values():
        problems += _rule_violations(found)
    problems += [f"import circle: {' -> '.join(circle)}" for circle in find_circles(modules)]
    return problems


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _rule_violations(found: ModuleImports) -> list[str]:
    problems = []
    name = found.name
    for target in sorted(found.imports):
        if _within(target, ("turnout.sandbox",)) and not _within(name, SANDBOX_IMPORTERS):
            problems.append(f"{name} imports {target}: only targets and cli import the sandbox")
        outside_its_zip = not _within(target, (zipped_unit(name),))
        if _within(name, SELF_CONTAINED) and outside_its_zip and target.startswith("turnout"):
            problems.append(f"{name} imports {target}: the Lambda handler is zipped alone")
        if _within(name, VENDORABLE) and target.startswith("turnout"):
            problems.append(f"{name} imports {target}: the producer helper is vendored alone")
        problems += _layer_violation(name, target)
    if _within(name, NO_CLI_FRAMEWORK) and found.externals & {"typer", "click"}:
        problems.append(f"{name} imports typer/click: the engine knows no command line")
    problems += [f"{name} uses the private {target}" for target in sorted(set(found.private))]
    return problems


def zipped_unit(name: str) -> str:
    """What is zipped together with a module of a self-contained package: its own unit
    (`turnout.lambdas.replicator` for `turnout.lambdas.replicator.writer`)."""
    return ".".join(name.split(".")[:3])


def _layer_violation(name: str, target: str) -> list[str]:
    if not target.startswith("turnout") or _within(name, SELF_CONTAINED):
        return []
    (mine, my_prefix), (theirs, their_prefix) = layer_of(name), layer_of(target)
    if theirs > mine:
        return [f"{name} imports {target}, a higher layer ({their_prefix} above {my_prefix})"]
    sibling = theirs == mine and my_prefix != their_prefix and mine > 0
    if sibling and (my_prefix, their_prefix) not in SAME_LAYER_ALLOWED:
        return [f"{name} imports {target}, a sibling of its layer ({their_prefix})"]
    return []


def find_circles(modules: dict[str, ModuleImports]) -> list[list[str]]:
    """Every strongly connected group of more than one module (or a module importing itself),
    shown as one circle through it."""
    graph = {
        name: sorted(t for t in found.imports if t in modules) for name, found in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                members = sorted(group)
                circles.append([*members, members[0]])

    for name in graph:
        if name not in index:
            visit(name)
    return circles
