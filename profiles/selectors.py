"""Reads of profiles for the console: lists, a user's facts and change previews.

Lists never load the embedding column: it is large and no page shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from profiles.models import ProfileExtractor, ProfileGeneration, UserProfile
from reflexio_admin.status import Status

USER_PAGE_LIMIT = 500


def profiles(
    *,
    user_id: str | None = None,
    source: str | None = None,
    extractor_name: str | None = None,
    text: str | None = None,
) -> QuerySet[UserProfile]:
    """Profiles of every status matching the filters; filter by status after."""
    qs = UserProfile.objects.defer("embedding")
    if user_id:
        qs = qs.filter(user_id=user_id)
    if source:
        qs = qs.filter(source=source)
    if extractor_name:
        qs = qs.filter(extractor_name=extractor_name)
    if text:
        qs = qs.filter(content__icontains=text)
    return qs


def profiles_by_status(**filters: str | None) -> dict[str, QuerySet[UserProfile]]:
    base = profiles(**filters)
    return {status: base.filter(status=status) for status in Status.values}


def profiles_of_user(*, user_id: str) -> dict[str, list[UserProfile]]:
    """A user's facts by status, newest first, at most USER_PAGE_LIMIT each."""
    base = profiles(user_id=user_id).order_by("-id")
    return {
        status: list(base.filter(status=status)[:USER_PAGE_LIMIT])
        for status in Status.values
    }


def extractor_names() -> list[str]:
    return list(ProfileExtractor.objects.values_list("name", flat=True))


def enabled_extractor_names() -> list[str]:
    return list(
        ProfileExtractor.objects.filter(enabled=True).values_list("name", flat=True)
    )


def _scope(user_id: str | None, extractor_name: str | None) -> Q:
    q = Q()
    if user_id:
        q &= Q(user_id=user_id)
    if extractor_name:
        q &= Q(extractor_name=extractor_name)
    return q


def _with_same_scope(status: str) -> Exists:
    return Exists(
        ProfileGeneration.objects.filter(
            status=status,
            user_id=OuterRef("user_id"),
            extractor_name=OuterRef("extractor_name"),
        )
    )


def _items(generations: QuerySet[ProfileGeneration]) -> int:
    return UserProfile.objects.filter(generation__in=generations).count()


def _users(generations: QuerySet[ProfileGeneration]) -> int:
    return generations.values("user_id").distinct().count()


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


@dataclass(frozen=True)
class UpgradePreview:
    users: int
    pending: int
    current: int
    archived: int

    @property
    def changes(self) -> bool:
        return self.users > 0

    @property
    def summary(self) -> str:
        return (
            f"{_plural(self.users, 'user')}: {self.pending:,} pending become "
            f"current, {self.current:,} current are archived, {self.archived:,} "
            f"archived are deleted"
        )


@dataclass(frozen=True)
class DowngradePreview:
    users: int
    restored: int
    demoted: int

    @property
    def changes(self) -> bool:
        return self.users > 0

    @property
    def summary(self) -> str:
        return (
            f"{_plural(self.users, 'user')}: {self.restored:,} archived become "
            f"current again, {self.demoted:,} current are archived"
        )


def upgrade_preview(
    *, user_id: str | None = None, extractor_name: str | None = None
) -> UpgradePreview:
    """What `upgrade_profiles` would change for this scope, counted the same way."""
    scope = _scope(user_id, extractor_name)
    replaced = scope & Q(_with_same_scope(Status.PENDING))
    pending = ProfileGeneration.objects.filter(scope, status=Status.PENDING)
    return UpgradePreview(
        users=_users(pending),
        pending=_items(pending),
        current=_items(
            ProfileGeneration.objects.filter(replaced, status=Status.CURRENT)
        ),
        archived=_items(
            ProfileGeneration.objects.filter(replaced, status=Status.ARCHIVED)
        ),
    )


def downgrade_preview(
    *, user_id: str | None = None, extractor_name: str | None = None
) -> DowngradePreview:
    """What `downgrade_profiles` would change for this scope."""
    scope = _scope(user_id, extractor_name)
    restore = ProfileGeneration.objects.filter(scope, status=Status.ARCHIVED)
    demote = ProfileGeneration.objects.filter(
        scope & Q(_with_same_scope(Status.ARCHIVED)), status=Status.CURRENT
    )
    return DowngradePreview(
        users=_users(restore), restored=_items(restore), demoted=_items(demote)
    )
