"""The cost preview of a rerun, on a data set whose numbers are known."""

from datetime import timedelta

import pytest
from django.utils import timezone

from playbooks.models import PlaybookExtractor
from profiles import services as profile_services
from profiles.models import ProfileExtractor
from reflexio_admin import costs, llm
from reflexio_admin.costs import rerun_cost_preview
from reflexio_admin.models import GenerationSettings, Operation
from reflexio_admin.operations import OperationError
from tests.factories import conversation

pytestmark = pytest.mark.django_db

ANA = ["I work night shifts.", "Hello.", "I live in Berlin.", "Thanks.", "Bye."]
BEN = ["I live in Paris.", "Ok."]
CAT = ["Please email me."]


@pytest.fixture
def data():
    config = GenerationSettings.load()
    config.batch_size = 2
    config.save()
    old = timezone.now() - timedelta(days=30)
    conversation("ana", ANA[:3], at=old)
    conversation("ana", ANA[3:])
    conversation("ben", BEN, agent_version="v2")
    conversation("cat", CAT, source="email")


def expected_tokens(
    *,
    windows,
    users,
    interactions,
    text,
    consolidated_users,
    consolidated_windows,
    extractor,
    kind="profiles",
):
    """The documented estimate, spelled out."""
    extraction, consolidation = costs._PROMPTS[kind]
    definition = llm.estimate_tokens(
        extractor.definition_prompt + extractor.context_prompt
    )
    found = costs.ITEM_TOKENS * costs.ITEMS_PER_WINDOW
    prompt = (
        windows * (llm.estimate_tokens(extraction) + definition)
        + interactions * costs.TURN_OVERHEAD_TOKENS
        + (len(text) + 3) // 4
        + (windows - users) * found
        + consolidated_users * (llm.estimate_tokens(consolidation) + definition)
        + consolidated_windows * found
    )
    answers = windows + consolidated_users
    completion = answers * costs.ANSWER_OVERHEAD_TOKENS + (
        windows + consolidated_windows
    ) * (found // 2)
    return prompt, completion


def test_it_counts_users_interactions_and_windows_of_every_user(data):
    preview = rerun_cost_preview("profiles")

    # ana: 5 turns in windows of 2 = 3 windows (+1 consolidation);
    # ben: 2 turns = 1 window; cat: 1 turn = 1 window.
    assert (preview.users, preview.interactions, preview.windows) == (3, 8, 5)
    assert preview.llm_calls == 6
    assert preview.model == "offline-heuristics"
    prompt, completion = expected_tokens(
        windows=5,
        users=3,
        interactions=8,
        text="".join(ANA + BEN + CAT),
        consolidated_users=1,
        consolidated_windows=3,
        extractor=ProfileExtractor.objects.get(),
    )
    assert preview.estimated_prompt_tokens == prompt
    assert preview.estimated_completion_tokens == completion
    assert preview.estimated_total_tokens == prompt + completion


def test_it_narrows_to_the_scope_of_the_form(data):
    one_user = rerun_cost_preview("profiles", user_id="ana")
    recent = rerun_cost_preview(
        "profiles", user_id="ana", start_time=timezone.now() - timedelta(days=7)
    )
    by_source = rerun_cost_preview("profiles", source="email")

    assert (one_user.users, one_user.interactions, one_user.windows) == (1, 5, 3)
    assert (recent.users, recent.interactions, recent.windows) == (1, 2, 1)
    assert (by_source.users, by_source.interactions, by_source.windows) == (1, 1, 1)


def test_without_a_batch_size_each_history_is_one_window(data):
    config = GenerationSettings.load()
    config.batch_size = None
    config.save()

    preview = rerun_cost_preview("profiles")

    assert (preview.windows, preview.llm_calls) == (3, 3)


def test_each_extractor_walks_the_history_again(data):
    ProfileExtractor.objects.create(
        name="email_only",
        definition_prompt="Contact wishes.",
        enabled_sources=["email"],
    )

    preview = rerun_cost_preview("profiles")
    only_email = rerun_cost_preview("profiles", extractor_names=["email_only"])

    assert (preview.users, preview.interactions, preview.windows) == (3, 8, 6)
    assert (only_email.users, only_email.interactions, only_email.windows) == (1, 1, 1)


def test_playbooks_read_one_agent_version(data):
    preview = rerun_cost_preview("playbooks", agent_version="v2")

    assert (preview.users, preview.interactions, preview.windows) == (1, 2, 1)
    assert preview.extractors == tuple(
        PlaybookExtractor.objects.values_list("name", flat=True)
    )


def test_an_empty_scope_costs_nothing(data):
    preview = rerun_cost_preview("profiles", user_id="nobody")

    assert (preview.users, preview.windows, preview.estimated_total_tokens) == (0, 0, 0)


def test_unknown_extractors_are_refused_as_the_rerun_would(data):
    with pytest.raises(OperationError, match="Unknown or disabled"):
        rerun_cost_preview("profiles", extractor_names=["nope"])


def test_the_estimate_is_of_the_order_of_what_a_run_spends(data):
    preview = rerun_cost_preview("profiles")

    operation = profile_services.rerun_profile_generation()

    spent = Operation.objects.get(pk=operation.pk)
    assert spent.llm_calls >= preview.llm_calls
    assert 0.5 <= preview.estimated_prompt_tokens / spent.prompt_tokens <= 2


def test_it_reads_aggregates_only(data, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        rerun_cost_preview("profiles")
