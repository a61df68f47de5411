"""Dependencies that earn their place (issue 14, part 5): every runtime dependency is imported by
the package, and every package the code imports is declared (at runtime or in an extra)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
#: Distribution name -> the module it is imported as, where the two differ.
IMPORT_NAME = {"scikit-learn": "sklearn", "pyyaml": "yaml", "python-docx": "docx"}
#: Declared although no module of the package imports it, and why.
DECLARED_FOR_OTHERS = {
    "joblib": "the --jobs threads of classify and train; scikit-learn's parallel backend",
}


def _requirements(specs: list[str]) -> dict[str, Requirement]:
    return {Requirement(s).name.lower(): Requirement(s) for s in specs}


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _imported() -> set[str]:
    """Top-level modules the package imports, anywhere (lazy imports in functions included)."""
    found: set[str] = set()
    for path in (REPO / "mpsoc_nlp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "mpsoc_nlp"}


def _module(dist: str) -> str:
    return IMPORT_NAME.get(dist, dist.replace("-", "_"))


def test_every_runtime_dependency_is_imported():
    runtime = _requirements(_project()["dependencies"])
    imported = _imported()
    unused = sorted(d for d in runtime if _module(d) not in imported and d not in DECLARED_FOR_OTHERS)
    assert unused == [], f"runtime dependencies the package never imports: {unused}"


def test_every_import_is_declared_at_runtime_or_in_an_extra():
    project = _project()
    runtime = {_module(d) for d in _requirements(project["dependencies"])}
    extras = {
        _module(d)
        for name, specs in project["optional-dependencies"].items()
        if name != "dev"
        for d in _requirements(specs)
    }
    undeclared = sorted(_imported() - runtime - extras)
    assert undeclared == [], f"imported but declared nowhere but dev (or not at all): {undeclared}"
    # the REFI-QDA schema check of every .qdpx written needs xmlschema: a runtime dependency
    assert "xmlschema" in runtime
