"""The package's structure: knowledge of kinds of signal and of architectures stays in their own
packages, and the CLI stays a thin layer over the library."""

from __future__ import annotations

import ast
from pathlib import Path

from inrcli.models import MODELS
from inrcli.signals import KINDS

PACKAGE = Path(__file__).resolve().parents[1] / "inrcli"
OWNERS = (PACKAGE / "signals", PACKAGE / "models")
NAMES = set(KINDS) | set(MODELS)


def _outside_owners() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py")) if not any(owner in path.parents for owner in OWNERS)]


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose may mention a kind)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
        if isinstance(node, (ast.ClassDef, ast.Module)):  # attribute docstrings: a string after an assignment
            for before, after in zip(node.body, node.body[1:]):
                if isinstance(before, (ast.Assign, ast.AnnAssign)) and isinstance(after, ast.Expr) \
                        and isinstance(after.value, ast.Constant):
                    found.add(id(after.value))
    return found


def _data_keys(tree: ast.AST) -> set[int]:
    """ids of string constants used as keys of plain data (``{"shape": …}``, ``d["shape"]``,
    ``d.get("shape")``): a JSON field called "shape" is not the shape kind."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            found |= {id(key) for key in node.keys if key is not None}
        elif isinstance(node, ast.Subscript):
            found.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop") \
                and node.args:
            found.add(id(node.args[0]))
    return found


def test_no_code_outside_signals_and_models_names_a_kind_or_an_architecture():
    offences = []
    for path in _outside_owners():
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree) | _data_keys(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                if node.value in NAMES:
                    offences.append(f"{path.name}:{node.lineno} names {node.value!r}")
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] in (["inrcli", "signals"], ["inrcli", "models"]) and len(parts) > 2 \
                        and parts[2] not in ("base",):
                    offences.append(f"{path.name}:{node.lineno} imports {node.module}")
    assert not offences, offences


def test_the_registries_name_every_module_of_their_package():
    """Every module under signals/ is a registered kind, or a helper named after one (graph_spectral)."""
    kind_modules = {p.stem for p in (PACKAGE / "signals").glob("*.py")} - {"__init__", "base"}
    kind_modules = {name for name in kind_modules if name.split("_")[0] not in KINDS or "_" not in name}
    assert kind_modules == {target.split(":")[0].rsplit(".", 1)[1] for target in KINDS.values()}


def test_the_cli_is_thin():
    source = (PACKAGE / "cli.py").read_text()
    assert len(source.splitlines()) < 450  # nine commands, each one parse → call → render (sets: cli_sets.py)
    tree = ast.parse(source)
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(module.startswith(("inrcli.signals.", "inrcli.models")) for module in imported if module), imported
    for node in ast.walk(tree):  # no command body runs long
        if isinstance(node, ast.FunctionDef):
            body_lines = node.body[-1].end_lineno - node.body[0].lineno + 1
            assert body_lines <= 45, f"{node.name} is {body_lines} lines"


def test_the_library_never_imports_the_cli_framework_or_prints():
    for path in _outside_owners() + sorted((PACKAGE / "signals").glob("*.py")) + sorted((PACKAGE / "models").glob("*.py")):
        if path.name in ("cli.py", "render.py", "outcome.py", "__main__.py") or path.name.startswith("cli_"):
            continue
        tree = ast.parse(path.read_text())
        modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                   for alias in node.names}
        modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert not modules & {"typer", "rich", "click"}, path.name
        calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name) and node.func.id == "print"]
        assert not calls, path.name
