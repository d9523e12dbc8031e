"""Property-based tests: whatever a caller sends, a clear 4xx or form error."""
