"""Console pages of the shared parts: overview, interactions, operations, settings."""
