"""The agent playbook card: one rule with its approval and its decisions.

A list page shows fifty of these. Drawn by the template engine, each card
cost close to 200 µs (about sixty nodes, every one resolved and escaped on
its own), more than the rest of the page together. Drawn here with
f-strings, every value escaped, a page of cards costs about a millisecond.
`{% agent_playbook_card %}` (playbooks/templatetags/playbook_cards.py) puts
a card into a template.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from django.template.defaultfilters import date as format_date
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime

from playbooks.models import AgentPlaybook, Approval
from reflexio_admin.views.links import RowUrl

REVIEWED_AT_FORMAT = "Y-m-d H:i"


@dataclass(frozen=True)
class CardLinks:
    detail: str
    sources: str
    approve: str
    reject: str
    edit: str


@dataclass(frozen=True)
class CardViewer:
    """What a card needs to know about who looks at it and from where."""

    can_review: bool
    # The hidden input of `{% csrf_token %}`, or "" where there is no token.
    csrf_input: SafeString
    # Where a decision made without htmx sends the reviewer back to.
    return_to: str


def with_card_links[P: AgentPlaybook](playbooks: Iterable[P]) -> list[P]:
    """Give each playbook the links its card draws, as `links`.

    Each route is reversed once for the whole list, not once per card.
    """
    detail = RowUrl("playbooks:agent_playbook_detail")
    sources = RowUrl("playbooks:agent_playbook_sources")
    approve = RowUrl("playbooks:agent_playbook_approve")
    reject = RowUrl("playbooks:agent_playbook_reject")
    edit = RowUrl("playbooks:agent_playbook_edit")
    listed = list(playbooks)
    for playbook in listed:
        pk = playbook.pk
        playbook.links = CardLinks(  # type: ignore[attr-defined]
            detail=detail(pk),
            sources=sources(pk),
            approve=approve(pk),
            reject=reject(pk),
            edit=edit(pk),
        )
    return listed


def card_html(
    p: AgentPlaybook, viewer: CardViewer, *, hide_sources: bool = False
) -> SafeString:
    """The card of `p`, which must carry `links` (see `with_card_links`).

    Every value that comes from the database or the request goes through
    `escape`; ids are integers.
    """
    links: CardLinks = p.links  # type: ignore[attr-defined]
    pk, approval = p.pk, escape(p.approval)
    html = [
        f'<article class="item" id="agent-playbook-{pk}" data-approval="{approval}">',
        '<div class="item-head">'
        f'<span><span class="badge badge-{approval}">{approval}</span> '
        f"{escape(p.agent_version)} / {escape(p.playbook_name)}</span>"
        f'<span><a href="{escape(links.detail)}">#{pk}</a>{_reviewed(p)}</span>'
        "</div>",
    ]
    if p.trigger:
        html.append(f'<p class="item-body trigger">When: {escape(p.trigger)}</p>')
    html.append(f'<p class="item-body">{escape(p.content)}</p>')
    if p.rationale:
        html.append(f'<p class="item-body rationale">Why: {escape(p.rationale)}</p>')
    if not hide_sources:
        html.append(_sources(p, links))
    if viewer.can_review:
        html.append(_actions(p, links, viewer))
    html.append("</article>")
    return mark_safe("\n".join(html))


def _reviewed(p: AgentPlaybook) -> str:
    """The " · approved by rita 2026-12-01 09:30" of a decided playbook, or ""."""
    if p.reviewed_by_id is None:
        return ""
    reviewer = p.reviewed_by.get_username()  # type: ignore[union-attr]
    when = format_date(template_localtime(p.reviewed_at), REVIEWED_AT_FORMAT)
    return f" · {escape(p.approval)} by {escape(reviewer)} {escape(when)}"


def _sources(p: AgentPlaybook, links: CardLinks) -> str:
    """A closed list of the user playbooks behind `p`, fetched when opened."""
    made_from = len(p.source_user_playbook_ids)
    plural = "" if made_from == 1 else "s"
    return (
        f'<details hx-get="{escape(links.sources)}" hx-trigger="toggle once" '
        'hx-target="find .sources" hx-swap="outerHTML">'
        f"<summary>Made from {made_from} user playbook{plural}</summary>"
        f'<p class="sources"><a href="{escape(links.detail)}#sources">'
        "See them on the playbook's page</a></p>"
        "</details>"
    )


def _actions(p: AgentPlaybook, links: CardLinks, viewer: CardViewer) -> str:
    """Approve and reject (each a form that works without htmx) and edit."""
    decisions = []
    if p.approval != Approval.APPROVED:
        decisions.append((links.approve, "btn-success", "Approve"))
    if p.approval != Approval.REJECTED:
        decisions.append((links.reject, "btn-danger", "Reject"))
    return_to = escape(viewer.return_to)
    html = ['<div class="item-actions">']
    for url, style, label in decisions:
        html.append(
            f'<form method="post" action="{escape(url)}" class="inline" '
            f'hx-post="{escape(url)}" hx-target="#agent-playbook-{p.pk}" '
            f'hx-swap="outerHTML">{viewer.csrf_input}'
            f'<input type="hidden" name="next" value="{return_to}">'
            f'<button type="submit" class="btn-small {style}">{label}</button>'
            "</form>"
        )
    html.append(
        f'<a class="btn btn-small" href="{escape(links.edit)}" '
        f'hx-get="{escape(links.edit)}" hx-target="#agent-playbook-{p.pk}" '
        'hx-swap="outerHTML">Edit</a>'
    )
    html.append("</div>")
    return "\n".join(html)
