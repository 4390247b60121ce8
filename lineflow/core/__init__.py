"""The domain's vocabulary, importing nothing else of lineflow: the canonical line schema, odds
arithmetic, player keys, slate dates, the error tree, kill points, allocator settings and frames
handed to DuckDB."""
