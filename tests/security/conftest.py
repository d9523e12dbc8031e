# The stored rows of the property tests: a little of everything, with ids.
from tests.bad_input.conftest import inline_jobs, stored  # noqa: F401
