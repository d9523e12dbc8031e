"""`make bench`: seed PostgreSQL with a synthetic data set and measure the product.

Every figure is compared with a baseline measured in the same run (these
machines are shared and noisy); absolute times are reported for context.
See docs/performance.md.
"""
