"""Declarative sources: a line provider declared in YAML alone (`rest:` in conf/source/NAME.yaml).

`spec` is the typed tree of the YAML (plain data, validated when the config loads, in the config
layer); `plan` runs its request plan, `walk` turns one body into flat columns, `finish` converts
a batch of them in one polars pass, and `source.DeclarativeSource` is the `Source` the stages
hold. This package's `__init__` imports nothing, so that lineflow.config can import `spec`.
"""
