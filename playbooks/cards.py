"""What the agent playbook card needs besides the playbook itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from playbooks.models import AgentPlaybook
from reflexio_admin.views.links import RowUrl


@dataclass(frozen=True)
class CardLinks:
    detail: str
    approve: str
    reject: str
    edit: str


def with_card_links[P: AgentPlaybook](playbooks: Iterable[P]) -> list[P]:
    """Give each playbook (and its shown sources) the links its card draws.

    Sets `links` on each playbook and `link` on each of its `sources_shown`,
    so the card template reverses nothing, however many cards a page holds.
    """
    detail = RowUrl("playbooks:agent_playbook_detail")
    approve = RowUrl("playbooks:agent_playbook_approve")
    reject = RowUrl("playbooks:agent_playbook_reject")
    edit = RowUrl("playbooks:agent_playbook_edit")
    user = RowUrl("profiles:user_detail")
    listed = list(playbooks)
    for playbook in listed:
        pk = playbook.pk
        playbook.links = CardLinks(  # type: ignore[attr-defined]
            detail=detail(pk), approve=approve(pk), reject=reject(pk), edit=edit(pk)
        )
        for source in getattr(playbook, "sources_shown", ()):
            source.link = user(source.user_id)
    return listed
