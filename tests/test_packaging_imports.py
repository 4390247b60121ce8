"""What users install is the framework only: no test tooling in it, nothing that needs the
`test` (or `bench`) extra to import.

The test-only modules are worked out from the installed distributions' metadata: every
top-level module whose distributions are reached from `lineflow[test]` or `lineflow[bench]`
but not from `lineflow[prod]`. Every module of the `lineflow` package must import in a fresh
process where those modules (and this repository's `tests` and `bench`) cannot be imported.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PACKAGE = ROOT / "lineflow"
#: This repository's own code outside the package: never importable by an installed lineflow.
REPOSITORY_ONLY = {"tests", "bench"}

# Runs in the child: makes the given top-level modules unimportable (dropping any a .pth file
# loaded at startup, which a finder would not see), then imports every module of the package
# and prints which ones failed and why.
IMPORT_EVERYTHING = """
import importlib, json, sys
from importlib.abc import MetaPathFinder
from pathlib import Path

blocked = frozenset(json.loads(sys.argv[1]))

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed)", name=name)
        return None

for loaded in [m for m in sys.modules if m.partition(".")[0] in blocked]:
    del sys.modules[loaded]
sys.meta_path.insert(0, NotInstalled())
import lineflow

root = Path(lineflow.__file__).parent
imported, failures = [], {}
for file in sorted(root.rglob("*.py")):
    parts = file.relative_to(root.parent).with_suffix("").parts
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    try:
        importlib.import_module(name)
        imported.append(name)
    except Exception as error:
        failures[name] = f"{type(error).__name__}: {error}"
print(json.dumps({"imported": imported, "failures": failures}))
"""


def _reached(roots: Iterable[tuple[str, str]]) -> set[str]:
    """Distributions reached from (distribution, extra) pairs through installed metadata."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    pending = list(roots)
    while pending:
        name, extra = pending.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here (e.g. the bench extra): nothing to import anyway
        names.add(canonicalize_name(name))
        for text in requirements:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
                continue
            pending += [(requirement.name, e) for e in ("", *requirement.extras)]
    return names


def extras_only_modules() -> set[str]:
    """Top-level modules that only the `test` and `bench` extras bring (the users' extras:
    `postgres` the shared state store's driver, `lake` the shared warehouse's extensions,
    `ray` the distributed backfill's engine)."""
    users = ("", "prod", "postgres", "lake", "ray")
    runtime = _reached([("lineflow", extra) for extra in users])
    extras_only = _reached([("lineflow", "test"), ("lineflow", "bench")]) - runtime
    return {
        module
        for module, distributions in metadata.packages_distributions().items()
        if all(canonicalize_name(d) in extras_only for d in distributions)
    }


def test_the_test_only_modules_are_found() -> None:
    # The checks below are only as good as this list: it must hold what the test extra brings.
    assert {"pytest", "vcr", "pytest_recording", "proxy", "aiosmtpd", "trustme", "PIL"} <= (
        extras_only_modules()
    )
    assert not {"lineflow", "duckdb", "httpx", "hydra", "google"} & extras_only_modules()


def test_every_module_imports_without_the_test_extra(tmp_path: Path) -> None:
    blocked = sorted(extras_only_modules() | REPOSITORY_ONLY)
    child = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, json.dumps(blocked)],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repository root: `tests` and `bench` are not on the path
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["failures"] == {}
    assert "lineflow.cli" in report["imported"]
    assert len(report["imported"]) == len(list(PACKAGE.rglob("*.py")))


def test_no_module_imports_test_only_code_even_lazily() -> None:
    # Imports inside functions escape the import test above; read every import statement.
    forbidden = extras_only_modules() | REPOSITORY_ONLY
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                for name in names
                if name.partition(".")[0] in forbidden
            ]
    assert found == []


# Runs in the child, in the repository root: the packages and their folders that setup.py and
# pyproject.toml together give the wheel, as setuptools reads them before building.
WHEEL_PACKAGES = """
import json, warnings
from distutils.core import run_setup
warnings.simplefilter("ignore")
dist = run_setup("setup.py", stop_after="config")
print(json.dumps({"packages": dist.packages, "package_dir": dist.package_dir or {}}))
"""


def test_the_wheel_ships_only_the_lineflow_package() -> None:
    assert not (PACKAGE / "testing").exists()
    child = subprocess.run(
        [sys.executable, "-c", WHEEL_PACKAGES], capture_output=True, text=True, cwd=ROOT
    )
    assert child.returncode == 0, child.stderr
    shipped = json.loads(child.stdout.strip().splitlines()[-1])
    packages, mapped = shipped["packages"], shipped["package_dir"]
    assert "lineflow" in packages
    assert [p for p in packages if p != "lineflow" and not p.startswith("lineflow.")] == []
    # Where each package's files come from: a mapped folder, or its own path in the tree.
    folders = {p: ROOT / mapped.get(p, p.replace(".", "/")) for p in packages}
    assert {p: f for p, f in folders.items() if not f.is_dir()} == {}
    outside = [ROOT / name for name in sorted(REPOSITORY_ONLY)]
    assert [p for p, f in folders.items() if any(f.is_relative_to(o) for o in outside)] == []


# Runs in the child: every module of the package imported and a warehouse statement with a
# bound parameter run; then what other libraries see of the import system.
LEAVES_IMPORTS_ALONE = """
import importlib, sys, tempfile
from datetime import datetime, timezone
from pathlib import Path

before = {name: sys.modules.get(name, "unset") for name in ("pandas", "numpy", "pyarrow")}
for path in sorted(Path("lineflow").rglob("*.py")):
    importlib.import_module(".".join(path.with_suffix("").parts).removesuffix(".__init__"))
from lineflow.warehouse import DuckDBWarehouse

with tempfile.TemporaryDirectory() as home:
    warehouse = DuckDBWarehouse(Path(home) / "w.duckdb")
    with warehouse.session():
        assert warehouse.con.execute("SELECT ?", [1]).fetchone() == (1,)
import pyarrow as pa

# pyarrow asks whether pandas is there (Cython reads sys.modules directly) when it converts a
# timestamp: the prod publish test reads BigQuery's rows this way in lineflow's process.
stamp = pa.scalar(datetime(2026, 1, 23, tzinfo=timezone.utc), type=pa.timestamp("us", tz="UTC"))
assert stamp.as_py().year == 2026
left = [n for n, v in before.items() if v == "unset" and sys.modules.get(n, 0) is None]
assert not left, f"marked absent in sys.modules: {left}"
print("ok")
"""


def test_lineflow_leaves_other_libraries_imports_alone():
    """No module of lineflow changes what another library of the same process imports: a
    performance mark once put None in sys.modules['pandas'], and pyarrow then failed on its
    next timestamp in a user's (and the publish test's) process."""
    out = subprocess.run(
        [sys.executable, "-c", LEAVES_IMPORTS_ALONE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
