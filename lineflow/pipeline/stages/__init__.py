"""The stages of a partition, in pipeline order. Each returns one result per processor."""
