"""Maps the repository's top-level conf/ and fixtures/ into the package as lineflow.conf and
lineflow.fixtures, so a wheel carries the default config and the offline demo.

pyproject.toml holds everything else; this file exists because `[tool.setuptools.packages.find]`
cannot add packages that live outside `lineflow/`, and listing every package by hand in
pyproject.toml would need an edit for each new subpackage.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["lineflow", "lineflow.*"]),
        "lineflow.conf",
        "lineflow.fixtures",
    ],
    package_dir={"lineflow.conf": "conf", "lineflow.fixtures": "fixtures"},
)
