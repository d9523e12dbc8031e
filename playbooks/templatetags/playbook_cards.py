"""`{% agent_playbook_card p %}`: an agent playbook's card in a template."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from playbooks.cards import CardViewer, card_html
from playbooks.models import AgentPlaybook
from reflexio_admin import roles

register = template.Library()

_VIEWER = "playbook_cards.viewer"


@register.simple_tag(takes_context=True)
def agent_playbook_card(
    context: template.Context, p: AgentPlaybook, hide_sources: bool = False
) -> SafeString:
    """Draw the card of `p` (given its links by `cards.with_card_links`).

    Who is looking is worked out once per template, however many cards it
    draws.
    """
    return card_html(p, _viewer(context), hide_sources=hide_sources)


@register.simple_tag(takes_context=True)
def agent_playbook_card_items(
    context: template.Context, playbooks: list[AgentPlaybook]
) -> SafeString:
    """The cards of a list, each in its `<li>`: one tag for the whole page."""
    viewer = _viewer(context)
    return mark_safe("\n".join(f"<li>{card_html(p, viewer)}</li>" for p in playbooks))


def _viewer(context: template.Context) -> CardViewer:
    viewer = context.render_context.get(_VIEWER)
    if viewer is None:
        viewer = context.render_context[_VIEWER] = card_viewer(context)
    return viewer


def card_viewer(context: template.Context) -> CardViewer:
    """Who looks at the cards of this page, from its request and CSRF token."""
    request = context["request"]
    token = context.get("csrf_token")
    csrf_input = SafeString("")
    if token and token != "NOTPROVIDED":
        csrf_input = format_html(
            '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token
        )
    return CardViewer(
        can_review=request.user.has_perm(roles.REVIEW_PLAYBOOKS),
        csrf_input=csrf_input,
        return_to=request.htmx.current_url_abs_path or request.get_full_path(),
    )
