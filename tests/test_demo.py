"""The demo data and the seed_demo command."""

from __future__ import annotations

import io
import stat

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count, F, Q
from django.test import override_settings

from playbooks.models import AgentPlaybook, Approval, UserPlaybook
from profiles.models import UserProfile
from reflexio_admin.demo import AGENT_VERSIONS, SOURCES, build_demo, reset_demo
from reflexio_admin.models import (
    Interaction,
    Operation,
    OperationStatus,
    Request,
)
from reflexio_admin.status import Status


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Build the demo once for the module and roll it back afterwards."""
    with (
        django_db_blocker.unblock(),
        override_settings(QUEUE_BACKEND="sync"),
        transaction.atomic(),
    ):
        yield build_demo()
        transaction.set_rollback(True)


def _contents(user_id: str, status: str) -> set[str]:
    return set(
        UserProfile.objects.filter(user_id=user_id, status=status).values_list(
            "content", flat=True
        )
    )


@pytest.mark.django_db
def test_the_demo_has_three_dozen_users_over_two_versions_and_two_sources(demo):
    turns = Request.objects.annotate(n=Count("interactions"))

    assert demo.users >= 30
    assert demo.agent_versions == sorted(AGENT_VERSIONS)
    assert demo.sources == sorted(SOURCES)
    assert set(turns.values_list("agent_version", "source")) == {
        (version, source) for version in AGENT_VERSIONS for source in SOURCES
    }
    assert not turns.filter(Q(n__lt=4) | Q(n__gt=12)).exists()
    assert Request.objects.values("session_id").distinct().count() < demo.requests


@pytest.mark.django_db
def test_interactions_repeat_their_requests_user_source_and_version(demo):
    mismatched = Interaction.objects.exclude(
        user_id=F("request__user_id"),
        source=F("request__source"),
        agent_version=F("request__agent_version"),
    )
    tool_turns = Interaction.objects.exclude(tools_used=[])

    assert not mismatched.exists()
    assert tool_turns.filter(tools_used__0__tool_name="lookup_order").exists()


@pytest.mark.django_db
def test_every_operation_of_the_demo_completed(demo):
    assert Operation.objects.count() >= 7
    assert not Operation.objects.exclude(status=OperationStatus.COMPLETED).exists()


@pytest.mark.django_db
def test_many_users_have_current_and_pending_profiles_and_some_archived(demo):
    both = (
        UserProfile.objects.values("user_id")
        .annotate(
            current=Count("id", filter=Q(status=Status.CURRENT)),
            pending=Count("id", filter=Q(status=Status.PENDING)),
        )
        .filter(current__gt=0, pending__gt=0)
    )

    assert both.count() >= 30
    assert demo.profiles[Status.ARCHIVED] >= 3
    assert _contents("lena.fischer", Status.ARCHIVED) == {"Lives in Hamburg"}


@pytest.mark.django_db
def test_pending_profiles_differ_where_users_changed_a_fact(demo):
    assert "Lives in Berlin" in _contents("jonas.weber", Status.CURRENT)
    assert "Lives in Munich" in _contents("jonas.weber", Status.PENDING)
    assert "Lives in Berlin" not in _contents("jonas.weber", Status.PENDING)
    assert "Is vegan" in _contents("tom.becker", Status.PENDING) - _contents(
        "tom.becker", Status.CURRENT
    )
    # Added by the user, and typed in by support staff (so no rerun finds it).
    assert "Is allergic to peanuts" in _contents("emma.johnson", Status.PENDING)
    assert _contents("hannah.meyer", Status.CURRENT) - _contents(
        "hannah.meyer", Status.PENDING
    )


@pytest.mark.django_db
def test_users_without_changes_get_the_same_pending_set_as_current(demo):
    unchanged = [
        user_id
        for user_id in ("finn.jansen", "yuki.tanaka", "samuel.green")
        if _contents(user_id, Status.CURRENT) == _contents(user_id, Status.PENDING)
    ]

    assert len(unchanged) == 3


@pytest.mark.django_db
def test_the_playbook_rerun_leaves_pending_user_playbooks_to_review(demo):
    pending = UserPlaybook.objects.filter(status=Status.PENDING)

    assert demo.user_playbooks[Status.CURRENT] > 0
    assert set(pending.values_list("agent_version", flat=True)) == {"support-v2"}
    assert pending.values("user_id").distinct().count() >= 5


@pytest.mark.django_db
def test_aggregation_proposes_agent_playbooks_backed_by_several_users(demo):
    backed = AgentPlaybook.objects.annotate(
        users=Count("user_playbooks__user_id", distinct=True)
    ).filter(users__gte=2)

    for version in AGENT_VERSIONS:
        counts = demo.aggregation[version]
        assert counts.read > counts.clusters_kept >= counts.proposed >= 1
        assert backed.filter(agent_version=version).exists()
    assert all(demo.agent_playbooks[approval] >= 1 for approval in Approval.values)


@pytest.mark.django_db
def test_seed_demo_twice_loads_the_data_once_and_prints_the_login_both_times(
    tmp_path,
):
    reset_demo()
    first, second = io.StringIO(), io.StringIO()

    with override_settings(VAR_DIR=tmp_path, QUEUE_BACKEND="sync"):
        call_command("seed_demo", stdout=first)
        counts = (Request.objects.count(), UserProfile.objects.count())
        call_command("seed_demo", stdout=second)

    password = (tmp_path / "demo_password").read_text().strip()
    user = User.objects.get(username="demo")
    assert counts == (Request.objects.count(), UserProfile.objects.count())
    assert counts[0] > 0
    for output in (first.getvalue(), second.getvalue()):
        assert "http://127.0.0.1:8000/" in output
        assert "Username:  demo" in output
        assert f"Password:  {password}" in output
    assert "no demo data loaded" in second.getvalue()
    assert stat.S_IMODE((tmp_path / "demo_password").stat().st_mode) == 0o600
    assert user.check_password(password)
    assert user.is_staff and user.is_superuser
    assert user.groups.filter(name="admin").exists()
