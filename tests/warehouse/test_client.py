"""The DuckDB client's look for pandas, settled once (lineflow/warehouse/duckdb/client.py)."""

import subprocess
import sys

from tests.conftest import ROOT

# Runs in a child: imports the warehouse package, counts the searches for pandas (the import
# system asking its finders) a statement with parameters makes, and says what `import pandas`
# gives afterwards.
PROBE = """
import sys
import duckdb
import lineflow.warehouse.duckdb
looked = []
class Counting:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas":
            looked.append(name)
        return None
sys.meta_path.insert(0, Counting())
con = duckdb.connect()
assert con.execute("SELECT ?, ?, ?", [1, "a", 2.5]).fetchall() == [(1, "a", 2.5)]
sys.meta_path.pop(0)
try:
    import pandas
    print(len(looked), "imported", getattr(pandas, "MARK", "real pandas"))
except ModuleNotFoundError as exc:
    print(len(looked), "absent", type(exc).__name__)
"""


def probe(path: str | None = None) -> str:
    code = PROBE if path is None else f"import sys; sys.path.insert(0, {path!r})\n{PROBE}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout.strip()


def test_without_pandas_a_statement_searches_for_it_no_more_and_import_still_fails():
    try:
        import pandas  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        return  # pandas is installed here: the next test covers that case
    found, outcome, error = probe().split()
    # Without the mark, each parameter bound searched twice: 6 searches for 3 parameters.
    assert int(found) == 0
    assert (outcome, error) == ("absent", "ModuleNotFoundError")


def test_an_installed_pandas_is_left_alone(tmp_path):
    package = tmp_path / "pandas"
    package.mkdir()
    (package / "__init__.py").write_text("MARK = 'installed'\n")
    found, outcome, mark = probe(str(tmp_path)).split(maxsplit=2)
    assert (outcome, mark) == ("imported", "installed")
