"""What the agent playbook card needs besides the playbook itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from playbooks.models import AgentPlaybook
from reflexio_admin.views.links import RowUrl


@dataclass(frozen=True)
class CardLinks:
    detail: str
    sources: str
    approve: str
    reject: str
    edit: str


def with_card_links[P: AgentPlaybook](playbooks: Iterable[P]) -> list[P]:
    """Give each playbook the links its card draws, as `links`.

    The card template then reverses nothing, however many cards a page holds.
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
