from typing import Any

from django.http import HttpRequest


def console(request: HttpRequest) -> dict[str, Any]:
    """Values every console page shows: the active LLM provider."""
    from reflexio_admin.llm import get_provider

    return {"llm_provider_name": get_provider().name}
