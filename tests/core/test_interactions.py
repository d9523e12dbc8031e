import pytest

from reflexio_admin.interactions import Scope, windows
from tests.factories import conversation

pytestmark = pytest.mark.django_db


def test_windows_cover_every_interaction_once_in_order():
    for n in range(5):
        conversation("ana", [f"turn {n}a", f"turn {n}b"])

    seen = [
        row.content
        for window in windows(Scope(user_id="ana").queryset(), 3)
        for row in window
    ]

    assert seen == [f"turn {n}{part}" for n in range(5) for part in "ab"]


def test_a_window_grows_to_the_end_of_the_request_it_would_cut():
    conversation("ana", ["one", "two"])
    conversation("ana", ["three", "four", "five"])
    conversation("ana", ["six"])

    sizes = [
        [row.content for row in window]
        for window in windows(Scope(user_id="ana").queryset(), 3)
    ]

    assert sizes == [["one", "two", "three", "four", "five"], ["six"]]


def test_no_batch_size_reads_the_whole_history_at_once():
    conversation("ana", ["one", "two"])
    conversation("ana", ["three"])

    assert len(list(windows(Scope(user_id="ana").queryset(), None))) == 1
