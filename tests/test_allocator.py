"""Long jobs hand memory they freed back to the system (glibc's heaps keep it otherwise), and
the `lineflow` command gives DuckDB's and polars' allocators one arena each."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from lineflow.core.allocator import JEMALLOC_SETTINGS, give_back_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc function")
def test_freed_heap_memory_goes_back_on_glibc():
    assert give_back_freed_memory() is True


def _fresh_python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in JEMALLOC_SETTINGS}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_command_sets_the_allocators_before_loading_duckdb_or_polars():
    code = (
        "import os, sys\n"
        "from lineflow.cli import main\n"
        "main(['run', '--help'])\n"
        "print('loaded' if {'duckdb', 'polars'} & set(sys.modules) else 'not loaded')\n"
        "print(os.environ['DUCKDB_JE_MALLOC_CONF'], os.environ['_RJEM_MALLOC_CONF'])\n"
    )
    assert _fresh_python(code).splitlines()[-2:] == ["not loaded", "narenas:1 narenas:1"]


def _last(settings: str, name: str) -> str | None:
    """The value jemalloc takes for `name` from a settings string: the last one given."""
    given = [item.split(":", 1)[1] for item in settings.split(",") if item.startswith(f"{name}:")]
    return given[-1] if given else None


def test_a_users_allocator_settings_win_over_lineflows():
    code = "import os\nfrom lineflow.core.allocator import configure\nconfigure()\n"
    code += "print(os.environ['DUCKDB_JE_MALLOC_CONF'], os.environ['_RJEM_MALLOC_CONF'])"
    duckdb_conf, polars_conf = _fresh_python(
        code, DUCKDB_JE_MALLOC_CONF="narenas:4", _RJEM_MALLOC_CONF="narenas:16,dirty_decay_ms:0"
    ).split()
    assert (_last(duckdb_conf, "narenas"), _last(polars_conf, "narenas")) == ("4", "16")
    assert _last(polars_conf, "dirty_decay_ms") == "0"


def test_a_command_started_by_a_process_that_imported_polars_gives_it_one_arena():
    """polars writes its own defaults into `_RJEM_MALLOC_CONF` as it loads, so every process
    started after a parent imported it inherits them (an orchestrator's worker, a notebook, the
    benchmark's harness). lineflow's one arena must apply there too (a 160-date backfill's
    tree peaked 45-50 MB higher without it: docs/benchmarks.md)."""
    child = (
        "import os\nfrom lineflow.cli import main\nmain(['run', '--help'])\n"
        "print(os.environ['_RJEM_MALLOC_CONF'])"
    )
    parent = (
        "import os, subprocess, sys\nimport polars\n"
        "print(os.environ['_RJEM_MALLOC_CONF'])\n"
        f"done = subprocess.run([sys.executable, '-c', {child!r}], text=True, capture_output=True)"
        "\n"
        "print(done.stdout.strip().splitlines()[-1] if done.returncode == 0 else done.stderr)"
    )
    inherited, used = _fresh_python(parent).splitlines()[-2:]
    assert inherited and _last(inherited, "narenas") is None  # polars' own defaults, inherited
    assert _last(used, "narenas") == "1"
    assert used.endswith(inherited)  # what was there is kept, after lineflow's


def test_configure_names_the_libraries_loaded_too_early():
    code = "import polars\nfrom lineflow.core.allocator import configure\nprint(configure())"
    assert _fresh_python(code) == "['polars']"
