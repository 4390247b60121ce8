"""The domain's vocabulary, importing nothing else of lineflow: the canonical line schema, odds
arithmetic, player keys, slate dates, the error tree, kill points and allocator settings."""
