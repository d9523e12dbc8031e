import django_rq
import pytest

from reflexio_admin.llm import reset_provider
from tests.support.openai_server import FakeOpenAIServer


@pytest.fixture(scope="session")
def openai_server():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def openai_llm(settings, openai_server):
    """Point the LLM layer at the local OpenAI-compatible server."""
    openai_server.reset()
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.LLM_TIMEOUT = 2.0
    settings.LLM_MAX_RETRIES = 1
    reset_provider()
    yield openai_server
    reset_provider()
    openai_server.reset()


@pytest.fixture
def rq_queue(settings):
    """Send operations through django-rq on the test Redis database."""
    settings.QUEUE_BACKEND = "rq"
    queue = django_rq.get_queue("default")
    queue.connection.flushdb()
    yield queue
    queue.connection.flushdb()
