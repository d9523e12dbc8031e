"""Pairing a PENDING set of knowledge with the CURRENT one, by meaning.

Within one scope every PENDING item is compared with every CURRENT item by
the cosine of their embeddings, and an optimal one-to-one assignment
(scipy's `linear_sum_assignment`) picks the pairs; pairs below
`PAIRING_THRESHOLD` are split into an *added* and a *removed* item. A pair
whose texts are equal once case, whitespace and punctuation are ignored is
*unchanged*, any other pair *reworded* and carries a word-level diff.

Stored embeddings are used; where an item has none, or the two sides were
embedded with models of different dimensions, both sides of that comparison
fall back to the offline hashing embedding (pure CPU, no network), so that
nothing here ever calls a model.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from scipy.optimize import linear_sum_assignment

from reflexio_admin.offline_llm import embed_text

# Cosine similarity from which a PENDING and a CURRENT item may be paired.
# Tuned on the hand-written set in tests/review/pairing_cases.py with the
# offline hashing embeddings; docs/review.md gives the measured accuracy.
PAIRING_THRESHOLD = 0.5

_PUNCTUATION = re.compile(r"[^\w\s]+")


class Label(StrEnum):
    UNCHANGED = "unchanged"
    REWORDED = "reworded"
    ADDED = "added"
    REMOVED = "removed"


# The order rows are shown in: what needs a decision first.
LABEL_ORDER = (Label.REWORDED, Label.ADDED, Label.REMOVED, Label.UNCHANGED)


@dataclass(frozen=True)
class ReviewItem:
    """One item as the comparison sees it.

    `id` is the primary key; `public_id` is the id the API shows (the
    profile_id of a profile). `scope` names the generation scope, so that
    items of different scopes are never paired. `obj` is the model instance,
    for pages that show more than the text.
    """

    id: int
    text: str
    embedding: Sequence[float] | None = None
    scope: tuple[str, ...] = ()
    public_id: str | int | None = None
    obj: Any = None


@dataclass(frozen=True)
class Counts:
    unchanged: int = 0
    reworded: int = 0
    added: int = 0
    removed: int = 0

    @property
    def changed(self) -> int:
        return self.reworded + self.added + self.removed

    @property
    def total(self) -> int:
        return self.changed + self.unchanged

    def as_dict(self) -> dict[str, int]:
        return {
            "unchanged": self.unchanged,
            "reworded": self.reworded,
            "added": self.added,
            "removed": self.removed,
        }

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            unchanged=self.unchanged + other.unchanged,
            reworded=self.reworded + other.reworded,
            added=self.added + other.added,
            removed=self.removed + other.removed,
        )


@dataclass(frozen=True)
class ComparedItem:
    """One row of a review: a pair, or a PENDING or CURRENT item alone."""

    label: Label
    pending: ReviewItem | None
    current: ReviewItem | None
    similarity: float | None
    diff: SafeString = field(default_factory=lambda: mark_safe(""))

    @property
    def scope(self) -> tuple[str, ...]:
        item = self.pending or self.current
        assert item is not None
        return item.scope


@dataclass(frozen=True)
class Comparison:
    items: list[ComparedItem]
    counts: Counts

    def partner_of(self, pending_id: int) -> int | None:
        """The CURRENT item a PENDING item is paired with, if any."""
        for row in self.items:
            if row.pending is not None and row.pending.id == pending_id:
                return row.current.id if row.current is not None else None
        return None


def normalise(text: str) -> str:
    """Lower case, without punctuation, with single spaces."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def word_diff(old: str, new: str) -> SafeString:
    """A word-level diff of two texts as escaped HTML with <del>/<ins> spans."""
    before, after = old.split(), new.split()
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    parts: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append(escape(" ".join(before[i1:i2])))
            continue
        if i2 > i1:
            parts.append(f"<del>{escape(' '.join(before[i1:i2]))}</del>")
        if j2 > j1:
            parts.append(f"<ins>{escape(' '.join(after[j1:j2]))}</ins>")
    # Every piece was escaped above.
    return mark_safe(" ".join(parts))


def _unit_rows(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=float)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def _dimension(item: ReviewItem) -> int | None:
    return len(item.embedding) if item.embedding else None


def similarity_matrix(
    pending: Sequence[ReviewItem], current: Sequence[ReviewItem]
) -> np.ndarray:
    """Cosine similarity of every PENDING item (rows) with every CURRENT one.

    Stored embeddings are used where both sides have one of the same
    dimensions; every other cell uses the offline embedding of both texts.
    Texts that are equal once normalised score 1.
    """
    matrix = np.zeros((len(pending), len(current)))
    stored = np.zeros(matrix.shape, dtype=bool)
    pending_dims = [_dimension(item) for item in pending]
    current_dims = [_dimension(item) for item in current]
    for dim in {d for d in pending_dims if d} & {d for d in current_dims if d}:
        rows = [i for i, d in enumerate(pending_dims) if d == dim]
        cols = [j for j, d in enumerate(current_dims) if d == dim]
        left = _unit_rows([pending[i].embedding for i in rows])  # type: ignore[misc]
        right = _unit_rows([current[j].embedding for j in cols])  # type: ignore[misc]
        matrix[np.ix_(rows, cols)] = left @ right.T
        stored[np.ix_(rows, cols)] = True

    if not stored.all():
        rows = [i for i in range(len(pending)) if not stored[i].all()]
        cols = [j for j in range(len(current)) if not stored[:, j].all()]
        left = _unit_rows([embed_text(pending[i].text) for i in rows])
        right = _unit_rows([embed_text(current[j].text) for j in cols])
        offline = left @ right.T
        for a, i in enumerate(rows):
            for b, j in enumerate(cols):
                if not stored[i, j]:
                    matrix[i, j] = offline[a, b]

    # Each text normalised once: a review of 50 against 50 would otherwise
    # normalise 2,500 texts.
    same_text: dict[str, list[int]] = defaultdict(list)
    for j, other in enumerate(current):
        same_text[normalise(other.text)].append(j)
    for i, item in enumerate(pending):
        for j in same_text.get(normalise(item.text), ()):
            matrix[i, j] = 1.0
    return np.clip(matrix, -1.0, 1.0)


def _pair(
    pending: Sequence[ReviewItem], current: Sequence[ReviewItem]
) -> list[ComparedItem]:
    rows: list[ComparedItem] = []
    paired_pending: set[int] = set()
    paired_current: set[int] = set()
    if pending and current:
        similarity = similarity_matrix(pending, current)
        # Cells under the threshold weigh nothing, so that the assignment
        # never trades one good pair for two pairs that will be split anyway.
        weights = np.where(similarity >= PAIRING_THRESHOLD, similarity, 0.0)
        for i, j in zip(*linear_sum_assignment(weights, maximize=True), strict=True):
            score = float(similarity[i, j])
            if score < PAIRING_THRESHOLD:
                continue
            paired_pending.add(int(i))
            paired_current.add(int(j))
            new, old = pending[i], current[j]
            if normalise(new.text) == normalise(old.text):
                rows.append(ComparedItem(Label.UNCHANGED, new, old, round(score, 4)))
            else:
                rows.append(
                    ComparedItem(
                        Label.REWORDED,
                        new,
                        old,
                        round(score, 4),
                        word_diff(old.text, new.text),
                    )
                )
    for i, item in enumerate(pending):
        if i not in paired_pending:
            rows.append(ComparedItem(Label.ADDED, item, None, None))
    for j, item in enumerate(current):
        if j not in paired_current:
            rows.append(ComparedItem(Label.REMOVED, None, item, None))
    return rows


def _row_order(row: ComparedItem) -> tuple[int, int]:
    item = row.pending or row.current
    assert item is not None
    return LABEL_ORDER.index(row.label), item.id


def count_rows(rows: Iterable[ComparedItem]) -> Counts:
    tally: dict[Label, int] = defaultdict(int)
    for row in rows:
        tally[row.label] += 1
    return Counts(
        unchanged=tally[Label.UNCHANGED],
        reworded=tally[Label.REWORDED],
        added=tally[Label.ADDED],
        removed=tally[Label.REMOVED],
    )


def compare(
    pending_items: Iterable[ReviewItem], current_items: Iterable[ReviewItem]
) -> Comparison:
    """Pair PENDING with CURRENT items by meaning and label every row.

    Items are only paired within the same `scope`; rows come grouped by
    scope, changes first.
    """
    pending_by_scope: dict[tuple[str, ...], list[ReviewItem]] = defaultdict(list)
    current_by_scope: dict[tuple[str, ...], list[ReviewItem]] = defaultdict(list)
    for item in pending_items:
        pending_by_scope[item.scope].append(item)
    for item in current_items:
        current_by_scope[item.scope].append(item)

    rows: list[ComparedItem] = []
    for scope in sorted(set(pending_by_scope) | set(current_by_scope)):
        found = _pair(pending_by_scope[scope], current_by_scope[scope])
        rows.extend(sorted(found, key=_row_order))
    return Comparison(items=rows, counts=count_rows(rows))
