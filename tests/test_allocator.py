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


def test_a_users_allocator_settings_are_kept():
    code = "import os\nfrom lineflow.core.allocator import configure\nconfigure()\n"
    code += "print(os.environ['DUCKDB_JE_MALLOC_CONF'], os.environ['_RJEM_MALLOC_CONF'])"
    assert _fresh_python(code, DUCKDB_JE_MALLOC_CONF="narenas:4") == "narenas:4 narenas:1"


def test_configure_names_the_libraries_loaded_too_early():
    code = "import polars\nfrom lineflow.core.allocator import configure\nprint(configure())"
    assert _fresh_python(code) == "['polars']"
