"""Every URL pattern of the project, for tests that must cover them all."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

# Django's own admin has its own login and its own tests.
DJANGO_ADMIN = "django-admin/"


@dataclass(frozen=True)
class Route:
    route: str
    name: str
    pattern: URLPattern

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def callback(self) -> Any:
        return self.pattern.callback

    def url(self, values: Mapping[str, Any] | None = None) -> str:
        """The path with each argument from `values`, else a placeholder."""
        converters = getattr(self.pattern.pattern, "converters", {})
        kwargs = {
            arg: (values or {}).get(
                arg, 1 if isinstance(converter, IntConverter) else "someone"
            )
            for arg, converter in converters.items()
        }
        return reverse(self.name, kwargs=kwargs)


def _walk(
    entries: list[URLResolver | URLPattern], prefix: str, namespace: str
) -> Iterator[Route]:
    for entry in entries:
        route = prefix + str(entry.pattern)
        if route.startswith(DJANGO_ADMIN):
            continue
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, route, inner)
        elif entry.name:
            yield Route(route, f"{namespace}{entry.name}", entry)


def all_routes() -> list[Route]:
    """Every named URL of the console and the API, sorted by name."""
    return sorted(_walk(get_resolver().url_patterns, "", ""), key=lambda r: r.name)


def console_routes() -> list[Route]:
    return [route for route in all_routes() if not route.is_api]


def api_routes() -> list[Route]:
    return [route for route in all_routes() if route.is_api]
