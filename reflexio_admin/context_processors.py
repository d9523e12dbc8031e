from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def console(request: HttpRequest) -> dict[str, Any]:
    """Values every console page shows: the active LLM provider and who looks."""
    from reflexio_admin.llm import get_provider
    from reflexio_admin.roles import role_of

    return {
        "llm_provider_name": get_provider().name,
        "console_role": SimpleLazyObject(lambda: role_of(request.user)),
    }
