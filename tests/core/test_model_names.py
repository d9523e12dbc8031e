import pytest

from reflexio_admin.llm import get_provider
from reflexio_admin.models import GenerationSettings

pytestmark = pytest.mark.django_db


def test_model_names_saved_in_settings_are_used_by_the_provider(openai_llm):
    config = GenerationSettings.load()
    config.chat_model = "my-chat-model"
    config.embedding_model = "my-embedding-model"
    config.save()

    provider = get_provider()

    assert (provider.chat_model, provider.embedding_model) == (
        "my-chat-model",
        "my-embedding-model",
    )


def test_empty_model_names_fall_back_to_the_environment(openai_llm, settings):
    settings.REFLEXIO_CHAT_MODEL = "env-chat-model"
    config = GenerationSettings.load()
    config.chat_model = ""
    config.save()

    assert get_provider().chat_model == "env-chat-model"
