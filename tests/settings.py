"""Settings for the test suite: the project settings with test defaults.

`make test` sets the same values; these defaults make a bare `pytest` behave
the same way. Worker processes started by tests inherit the environment.
"""

import os

TEST_ENV_DEFAULTS = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/reflexio",
    "REDIS_URL": "redis://127.0.0.1:6379/15",
    "SECRET_KEY": "test-secret-not-for-production",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    # Plain http in tests: no redirect to https, cookies sent over http.
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "SECURE_HSTS_SECONDS": "0",
    # Operations run inline unless a test asks for rq or the embedded pool.
    "QUEUE_BACKEND": "sync",
    "CHROMIUM_PATH": "/usr/bin/chromium",
}

for _name, _value in TEST_ENV_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

from reflexio_admin.settings import *  # noqa: E402, F403

# Each test starts with an empty in-process cache (see tests/conftest.py), so
# sign-in throttling in one test never locks out another.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
