"""Tests of reflexio_admin.llm and the offline provider.

The OpenAI path runs the real `openai` SDK against the fake OpenAI-compatible
server in tests/support, which plays slow, failing, rate-limited and malformed
answers on request. No mocks.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import override_settings

from reflexio_admin.llm import (
    ClusterDecision,
    Extraction,
    Fact,
    LLMError,
    OpenAIProvider,
    Rule,
    Turn,
    Usage,
    _embedding_answer,
    estimate_tokens,
    get_provider,
    reset_provider,
)
from reflexio_admin.offline_llm import OfflineProvider, cosine, fact_slot
from tests.support.openai_server import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    FakeOpenAIServer,
    control,
    stats,
)

REPO = Path(__file__).resolve().parent.parent

NURSE_TURNS = [
    Turn("User", "Hi! I'm a nurse and I work night shifts."),
    Turn("Assistant", "Nice to meet you. How can I help?"),
    Turn("User", "I moved to Munich last month. Can you find me a gym nearby?"),
]
RECIPE_TURNS = [
    Turn("user", "Can you convert this recipe for me?"),
    Turn("assistant", "Sure! You need 2 cups of flour and 8 oz of butter."),
    Turn("user", "No, I asked for metric units."),
]
RECIPE_RULES = [
    Rule(
        "When the user asks to convert a recipe",
        "When the user asks to convert a recipe, use metric units.",
    ),
    Rule(
        "When the user asks to convert this recipe",
        "When the user asks to convert this recipe, use metric units.",
    ),
    Rule(
        "When the user asks to convert a cake recipe",
        "When the user asks to convert a cake recipe, use metric units.",
    ),
]


@pytest.fixture(scope="module")
def fake_server():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def server(fake_server):
    fake_server.reset()
    return fake_server


@pytest.fixture
def provider(server):
    with override_settings(
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=server.base_url,
        LLM_TIMEOUT=2.0,
        LLM_MAX_RETRIES=2,
    ):
        reset_provider()
        yield get_provider()
    reset_provider()


def extract(provider, known_facts=("Lives in Berlin",)):
    return provider.extract_profiles(
        definition="Facts about the user's life and work",
        context="",
        turns=NURSE_TURNS,
        known_facts=list(known_facts),
    )


# Choosing the provider


def test_get_provider_chooses_offline_without_an_api_key():
    with override_settings(OPENAI_API_KEY=""):
        reset_provider()
        provider = get_provider()

    assert isinstance(provider, OfflineProvider)
    assert provider.name == "offline"
    reset_provider()


def test_get_provider_chooses_openai_with_a_key_and_caches_it(server):
    with override_settings(
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=server.base_url,
        REFLEXIO_CHAT_MODEL="chat-x",
        REFLEXIO_EMBEDDING_MODEL="embed-y",
    ):
        reset_provider()
        first = get_provider()
        second = get_provider()
        reset_provider()
        third = get_provider()

    assert isinstance(first, OpenAIProvider)
    assert first.name == "openai"
    assert (first.chat_model, first.embedding_model) == ("chat-x", "embed-y")
    assert first is second
    assert third is not first
    assert "test-key" not in repr(first)
    reset_provider()


# The OpenAI path, through the real SDK


def test_extraction_returns_facts_and_usage_through_the_sdk(provider, server):
    result = extract(provider)

    assert isinstance(result, Extraction)
    contents = [fact.content for fact in result.items]
    assert contents == ["Is a nurse", "Works night shifts", "Lives in Munich"]
    munich = result.items[2]
    assert munich.source_turns == (2,)
    assert munich.supersedes == (0,)
    assert result.usage.prompt_tokens > 0
    assert result.usage.completion_tokens > 0
    assert result.usage.total == (
        result.usage.prompt_tokens + result.usage.completion_tokens
    )
    assert server.requests == [(CHAT_PATH, "profile_extraction")]


def test_every_task_is_sent_with_its_own_schema_name(provider, server):
    facts = provider.consolidate_profiles(
        definition="",
        facts=["Lives in Berlin", "Works night shifts", "Lives in Munich"],
    )
    rules = provider.extract_playbooks(
        definition="", context="", turns=RECIPE_TURNS, known_rules=[]
    )
    merged = provider.consolidate_playbooks(definition="", rules=RECIPE_RULES)
    decision, usage = provider.consolidate_cluster(
        rules=RECIPE_RULES, existing=[], rejected=[]
    )

    assert [(f.content, f.merged_from) for f in facts.items] == [
        ("Lives in Munich", (0, 2)),
        ("Works night shifts", (1,)),
    ]
    assert rules.items[0].content.startswith("When the user asks to convert")
    assert rules.items[0].source_turns == (0, 1, 2)
    assert merged.items[0].merged_from == (0, 1, 2)
    assert decision.rule is not None and decision.covered_by is None
    assert decision.rule.merged_from == (0, 1, 2)
    assert usage.total > 0
    assert [task for _, task in server.requests] == [
        "profile_consolidation",
        "playbook_extraction",
        "playbook_consolidation",
        "cluster_consolidation",
    ]


def test_cluster_consolidation_reports_a_covering_playbook(provider, server):
    existing = [
        "Greet the user",
        "When a user asks to convert a recipe, use metric units.",
    ]

    decision, _ = provider.consolidate_cluster(
        rules=RECIPE_RULES, existing=existing, rejected=[]
    )

    assert decision.rule is None
    assert decision.covered_by == 1


def test_a_rate_limited_call_is_retried_and_succeeds(provider, server):
    server.push(status=429, retry_after=1)

    started = time.monotonic()
    result = extract(provider)

    assert time.monotonic() - started >= 0.9  # The SDK waited as told.
    assert len(result.items) == 3
    assert server.count(CHAT_PATH) == 2


def test_two_server_errors_are_retried_and_the_call_succeeds(provider, server):
    server.push(status=500, times=2)

    result = extract(provider)

    assert len(result.items) == 3
    assert server.count(CHAT_PATH) == 3


def test_server_errors_beyond_max_retries_raise_a_retryable_error(provider, server):
    server.push(status=500, times=3)

    with pytest.raises(LLMError) as caught:
        extract(provider)

    assert caught.value.retryable is True
    assert "HTTP 500" in str(caught.value)
    assert server.count(CHAT_PATH) == 3


def test_a_rejected_request_is_not_retried(provider, server):
    server.push(status=400)

    with pytest.raises(LLMError) as caught:
        extract(provider)

    assert caught.value.retryable is False
    assert server.count(CHAT_PATH) == 1


def test_a_slow_answer_past_the_timeout_raises_a_retryable_error(server):
    server.default_delay = 1.0

    with override_settings(
        OPENAI_API_KEY="test-key",
        OPENAI_BASE_URL=server.base_url,
        LLM_TIMEOUT=0.3,
        LLM_MAX_RETRIES=2,
    ):
        reset_provider()
        with pytest.raises(LLMError) as caught:
            extract(get_provider())
    reset_provider()

    assert caught.value.retryable is True
    assert caught.value.message == "timed out after 0.3s"
    assert server.count(CHAT_PATH) == 3


def test_one_slow_answer_is_retried_by_the_sdk(server):
    server.push(delay=1.0)

    provider = OpenAIProvider(
        api_key="test-key", base_url=server.base_url, timeout=0.3, max_retries=2
    )
    result = extract(provider)

    assert len(result.items) == 3
    assert server.count(CHAT_PATH) == 2


def test_malformed_json_once_is_asked_for_again_and_succeeds(provider, server):
    single_call = extract(provider).usage
    server.reset()
    server.push(malformed=True)

    result = extract(provider)

    assert len(result.items) == 3
    assert server.count(CHAT_PATH) == 2
    # The malformed attempt was billed too.
    assert result.usage.prompt_tokens == 2 * single_call.prompt_tokens


def test_malformed_json_twice_raises_a_retryable_error_with_usage(provider, server):
    server.push(malformed=True, times=2)

    with pytest.raises(LLMError) as caught:
        extract(provider)

    assert caught.value.retryable is True
    assert caught.value.message == "the model returned malformed JSON"
    assert caught.value.usage.prompt_tokens > 0
    assert server.count(CHAT_PATH) == 2


def test_an_answer_that_breaks_the_schema_counts_as_malformed(provider, server):
    server.push(content='{"facts": [{"content": "Lives in Rome"}]}', times=2)

    with pytest.raises(LLMError) as caught:
        extract(provider)

    assert "malformed" in caught.value.message


def test_a_refusal_raises_an_error_that_is_not_retryable(provider, server):
    server.push(refusal="I can't help with that")

    with pytest.raises(LLMError) as caught:
        extract(provider)

    assert caught.value.retryable is False
    assert caught.value.message == "the model refused: I can't help with that"
    assert caught.value.usage.prompt_tokens > 0
    assert server.count(CHAT_PATH) == 1


def test_a_cut_off_answer_raises_a_retryable_error(provider, server):
    server.push(truncated=True)

    with pytest.raises(LLMError) as caught:
        extract(provider)

    assert caught.value.retryable is True
    assert "cut off" in caught.value.message
    assert caught.value.usage.completion_tokens > 0


def test_indexes_out_of_range_and_empty_texts_are_dropped(provider, server):
    answer = {
        "facts": [
            {
                "content": "Lives in  Rome",
                "source_turns": [2, 7, -1, 2],
                "time_to_live": "one_week",
                "supersedes": [0, 3],
            },
            {
                "content": "  ",
                "source_turns": [0],
                "time_to_live": "infinity",
                "supersedes": [],
            },
            {
                "content": "lives in berlin.",
                "source_turns": [0],
                "time_to_live": "infinity",
                "supersedes": [],
            },
        ]
    }
    server.push(content=json.dumps(answer))

    result = extract(provider)

    assert result.items == [
        Fact(
            "Lives in Rome", source_turns=(2,), time_to_live="one_week", supersedes=(0,)
        )
    ]


def test_embeddings_come_back_at_the_servers_dimension_in_batches(provider, server):
    texts = [f"text number {i}" for i in range(300)]

    vectors, usage = provider.embed(texts)

    assert len(vectors) == 300
    assert {len(vector) for vector in vectors} == {384}
    assert usage.prompt_tokens == sum(estimate_tokens(text) for text in texts)
    assert server.requests == [(EMBEDDINGS_PATH, None), (EMBEDDINGS_PATH, None)]


def test_embedding_dimensions_are_not_hard_coded(provider, server):
    server.embedding_dimension = 1536
    try:
        vectors, _ = provider.embed(["night shifts"])
    finally:
        server.embedding_dimension = 384

    assert len(vectors[0]) == 1536


def test_a_malformed_embeddings_answer_fails_with_a_retryable_reason(provider, server):
    server.push(malformed=True)

    with pytest.raises(LLMError, match="malformed embeddings answer") as failed:
        provider.embed(["night shifts", "window seats"])

    assert failed.value.retryable
    assert failed.value.usage.prompt_tokens > 0
    vectors, _ = provider.embed(["night shifts"])
    assert len(vectors) == 1 and all(isinstance(x, float) for x in vectors[0])


def _vectors(*vectors: tuple[int, object]) -> bytes:
    """An embeddings answer with the given (index, embedding) items."""
    data = [{"index": index, "embedding": vector} for index, vector in vectors]
    return json.dumps({"data": data}).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        _vectors((0, [0.1, 0.2])),
        _vectors((0, [0.1]), (2, [0.2])),
        _vectors((0, [0.1]), (1, [0.2, 0.3])),
        _vectors((0, []), (1, [])),
        _vectors((0, [True]), (1, [1])),
        _vectors((1, ["x"]), (0, [1])),
        _vectors((0, None), (1, [1])),
    ],
)
def test_an_embeddings_answer_that_is_not_two_vectors_is_refused(body):
    vectors, _ = _embedding_answer(body, expected=2)

    assert vectors is None


def test_embeddings_are_returned_in_input_order_whatever_the_answer_order():
    body = (
        b'{"data": [{"index": 1, "embedding": [0.5, 1]}, '
        b'{"index": 0, "embedding": [0.25, 0.75]}], "usage": {"prompt_tokens": 7}}'
    )

    assert _embedding_answer(body, expected=2) == ([[0.25, 0.75], [0.5, 1]], 7)


def test_the_fake_server_can_be_scripted_over_http(provider, server):
    control(server.base_url, push=[{"status": 500}, {"malformed": True}])

    result = extract(provider)

    assert len(result.items) == 3
    answer = stats(server.base_url)
    assert answer["pending"] == 0
    assert len(answer["requests"]) == 3


def test_the_fake_server_runs_standalone_in_another_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.openai_server", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        line = process.stdout.readline()
        base_url = line.strip().rsplit(" ", 1)[-1]
        provider = OpenAIProvider(api_key="k", base_url=base_url, max_retries=0)

        vectors, _ = provider.embed(["hello"])
        control(base_url, status=503, times=1)
        with pytest.raises(LLMError):
            provider.embed(["hello"])
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
    assert len(vectors[0]) == 384


# The offline provider


@pytest.mark.parametrize(
    ("statement", "fact"),
    [
        ("I work night shifts", "Works night shifts"),
        ("I'm a nurse", "Is a nurse"),
        ("I live in Berlin", "Lives in Berlin"),
        ("I prefer metric units", "Prefers metric units"),
        ("I'm vegetarian", "Is vegetarian"),
        ("my name is Ana", "Name is Ana"),
        ("I have two kids", "Has two kids"),
        ("please always answer in Spanish", "Wants answers in Spanish"),
        ("I'm allergic to peanuts", "Is allergic to peanuts"),
        ("call me Sam", "Prefers to be called Sam"),
        ("I don't eat pork", "Does not eat pork"),
    ],
)
def test_the_offline_provider_rewrites_statements_in_the_third_person(statement, fact):
    result = OfflineProvider().extract_profiles(
        definition="", context="", turns=[Turn("User", statement)], known_facts=[]
    )

    assert [item.content for item in result.items] == [fact]
    assert result.items[0].source_turns == (0,)


def test_the_offline_provider_ignores_questions_and_the_agent():
    turns = [
        Turn("User", "Can you help me? I have a question about my order."),
        Turn("Assistant", "I live in the cloud and I work night shifts."),
    ]

    result = OfflineProvider().extract_profiles(
        definition="", context="", turns=turns, known_facts=[]
    )

    assert result.items == []


def test_the_offline_provider_supersedes_a_known_fact_in_the_same_slot():
    turns = [Turn("User", "Actually I live in Munich now.")]

    result = OfflineProvider().extract_profiles(
        definition="",
        context="",
        turns=turns,
        known_facts=["Is a nurse", "Lives in Berlin", "Prefers imperial units"],
    )

    assert result.items == [Fact("Lives in Munich", source_turns=(0,), supersedes=(1,))]
    assert fact_slot("Prefers metric units") == fact_slot("Prefers imperial units")


def test_the_offline_provider_does_not_return_a_known_fact_again():
    result = OfflineProvider().extract_profiles(
        definition="",
        context="",
        turns=[Turn("User", "I work night shifts.")],
        known_facts=["works night shifts"],
    )

    assert result.items == []


def test_the_offline_provider_learns_a_rule_from_a_correction():
    result = OfflineProvider().extract_playbooks(
        definition="", context="", turns=RECIPE_TURNS, known_rules=[]
    )

    assert result.items == [
        Rule(
            trigger="When the user asks to convert this recipe",
            content=(
                "When the user asks to convert this recipe, provide metric units, "
                "as the user asked."
            ),
            rationale=(
                "The user pushed back on the agent's answer and said what they "
                "wanted instead."
            ),
            source_turns=(0, 1, 2),
        )
    ]
    assert result.usage.total > 0


def test_the_offline_provider_learns_a_rule_from_a_confirmed_success():
    turns = [
        Turn("user", "How do I reset my password?"),
        Turn("assistant", "Sure! Open Settings, then Security, and click Reset."),
        Turn("user", "Thanks, that worked!"),
    ]

    result = OfflineProvider().extract_playbooks(
        definition="", context="", turns=turns, known_rules=[]
    )

    [rule] = result.items
    assert rule.trigger == "When the user asks how to reset their password"
    assert "open Settings, then Security, and click Reset" in rule.content
    assert rule.source_turns == (0, 1, 2)


def test_the_offline_provider_does_not_relearn_a_known_rule():
    known = ["When the user asks to convert this recipe, provide metric units."]

    result = OfflineProvider().extract_playbooks(
        definition="", context="", turns=RECIPE_TURNS, known_rules=known
    )

    assert result.items == []


def test_offline_consolidation_keeps_the_later_fact_on_conflict():
    facts = ["Lives in Berlin", "Has two kids", "lives in Munich.", "Has two kids"]

    result = OfflineProvider().consolidate_profiles(definition="", facts=facts)

    assert [(f.content, f.merged_from) for f in result.items] == [
        ("Lives in Munich", (0, 2)),
        ("Has two kids", (1, 3)),
    ]


def test_offline_cluster_consolidation_generalises_the_central_rule():
    decision, usage = OfflineProvider().consolidate_cluster(
        rules=RECIPE_RULES, existing=[], rejected=[]
    )

    assert decision.rule is not None
    assert decision.rule.content == (
        "When a user asks to convert a recipe, use metric units."
    )
    assert decision.rule.merged_from == (0, 1, 2)
    assert usage.total > 0


def test_offline_cluster_consolidation_never_proposes_a_rejected_rule():
    rejected = ["When a user asks to convert this recipe, use metric units"]

    decision, _ = OfflineProvider().consolidate_cluster(
        rules=RECIPE_RULES, existing=["Greet the user by name"], rejected=rejected
    )

    assert decision == ClusterDecision(
        None, None, "an equivalent playbook was rejected before"
    )


def test_offline_embeddings_rank_rewordings_above_unrelated_text():
    vectors, usage = OfflineProvider().embed(
        ["Works night shifts", "works nights shifts.", "Prefers metric units", ""]
    )

    assert {len(vector) for vector in vectors} == {256}
    assert cosine(vectors[0], vectors[1]) > 0.9
    assert abs(cosine(vectors[0], vectors[2])) < 0.3
    assert vectors[3] == [0.0] * 256
    assert usage.prompt_tokens > 0


def test_the_offline_provider_is_deterministic_across_processes():
    script = (
        "import json\n"
        "from reflexio_admin.llm import Turn\n"
        "from reflexio_admin.offline_llm import OfflineProvider\n"
        "p = OfflineProvider()\n"
        "r = p.extract_profiles(definition='', context='', known_facts=[],\n"
        "    turns=[Turn('User', \"I'm a nurse and I work night shifts.\")])\n"
        "print(json.dumps([[f.content for f in r.items], p.embed(['night'])[0]]))\n"
    )
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        completed = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(json.loads(completed.stdout))

    provider = OfflineProvider()
    turns = NURSE_TURNS + RECIPE_TURNS
    first = provider.extract_playbooks(
        definition="", context="", turns=turns, known_rules=[]
    )
    second = provider.extract_playbooks(
        definition="", context="", turns=turns, known_rules=[]
    )
    assert outputs[0] == outputs[1]
    assert outputs[0][0] == ["Is a nurse", "Works night shifts"]
    assert first == second


# Small pieces


def test_usage_adds_up():
    total = Usage(10, 2) + Usage(5, 1)

    assert total == Usage(prompt_tokens=15, completion_tokens=3)
    assert total.total == 18


def test_an_llm_error_survives_pickling():
    error = LLMError("timed out after 30s", retryable=True, usage=Usage(3, 0))

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.message, copy.retryable, copy.usage) == (
        "timed out after 30s",
        True,
        Usage(3, 0),
    )


def test_estimate_tokens_is_about_a_quarter_of_the_characters():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("x" * 400) == 100
