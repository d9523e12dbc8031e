"""Profiles: reading, single edits, and the profile operations."""

from __future__ import annotations

import logging

from django.db import transaction

from profiles import services as profile_services
from profiles.models import UserProfile
from reflexio_admin.api import schemas, selectors
from reflexio_admin.api import serializers as wire
from reflexio_admin.api.auth import EDIT, GENERATE_ONE_USER, OPERATE, READ
from reflexio_admin.api.http import (
    DELETE,
    GET,
    POST,
    UPDATE,
    ApiError,
    ApiRequest,
    Json,
    actor_of,
    endpoint,
    get_or_404,
    started,
    starter_of,
)
from reflexio_admin.status import Status

logger = logging.getLogger(__name__)


@endpoint(methods=POST, permission=READ, schema=schemas.GetUserProfilesRequest)
def get_profiles(request: ApiRequest, payload: schemas.GetUserProfilesRequest) -> Json:
    if payload.tags:
        raise ApiError(400, "tags: filtering by tags is not supported here.")
    rows = selectors.profiles(
        user_id=payload.user_id,
        status_names=selectors.statuses(payload.status_filter, [Status.CURRENT]),
        limit=payload.top_k,
        profile_id=payload.profile_id,
        query=payload.query,
        source=payload.source,
        time_to_live=payload.profile_time_to_live,
        start=payload.start_time,
        end=payload.end_time,
    )
    return {"success": True, "user_profiles": [wire.profile_view(p) for p in rows]}


@endpoint(methods=GET, permission=READ, schema=schemas.GetAllProfilesRequest)
def get_all_profiles(
    request: ApiRequest, payload: schemas.GetAllProfilesRequest
) -> Json:
    rows = selectors.profiles(
        user_id=payload.user_id,
        status_names=[payload.status_filter] if payload.status_filter else None,
        limit=payload.limit,
        profile_id=payload.profile_id,
        query=payload.query,
        source=payload.source,
        time_to_live=payload.profile_time_to_live,
        time_field="modified_at",
        start=selectors.from_unix(payload.start_time),
        end=selectors.from_unix(payload.end_time),
    )
    return {"success": True, "user_profiles": [wire.profile_view(p) for p in rows]}


@endpoint(methods=POST, permission=EDIT, schema=schemas.AddUserProfileRequest)
def add_user_profile(
    request: ApiRequest, payload: schemas.AddUserProfileRequest
) -> Json:
    with transaction.atomic():
        added = [
            profile_services.profile_add(
                user_id=item.user_id,
                content=item.content,
                status=item.status or Status.CURRENT,
                extractor_name=(item.extractor_names or [None])[0],
                source=item.source or "",
                time_to_live=item.profile_time_to_live,
                custom_features=item.custom_features,
                profile_id=item.profile_id,
                source_interaction_ids=item.source_interaction_ids,
                request_id=item.generated_from_request_id,
                **actor_of(request),
            )
            for item in payload.user_profiles
        ]
    return {
        "success": True,
        "message": f"Added {len(added)} profile(s).",
        "added_count": len(added),
        "profile_ids": [profile.profile_id for profile in added],
    }


@endpoint(methods=UPDATE, permission=EDIT, schema=schemas.UpdateUserProfileRequest)
def update_user_profile(
    request: ApiRequest, payload: schemas.UpdateUserProfileRequest
) -> Json:
    profile = get_or_404(
        UserProfile.objects,
        "profile",
        profile_id=payload.profile_id,
        user_id=payload.user_id,
    )
    profile_services.profile_update(
        profile=profile,
        content=payload.content,
        custom_features=payload.custom_features,
        **actor_of(request),
    )
    return {"success": True, "msg": f"Profile {profile.profile_id} updated."}


def _delete_profiles(request: ApiRequest, profiles: list[UserProfile]) -> int:
    with transaction.atomic():
        for profile in profiles:
            profile_services.profile_delete(profile=profile, **actor_of(request))
    return len(profiles)


@endpoint(methods=DELETE, permission=EDIT, schema=schemas.DeleteUserProfileRequest)
def delete_profile(
    request: ApiRequest, payload: schemas.DeleteUserProfileRequest
) -> Json:
    mine = UserProfile.objects.filter(user_id=payload.user_id)
    if payload.profile_id:
        targets = [
            get_or_404(
                mine, "profile", profile_id=payload.profile_id, user_id=payload.user_id
            )
        ]
    elif payload.search_query.strip():
        targets = list(
            mine.filter(
                status=Status.CURRENT, content__icontains=payload.search_query.strip()
            )
        )
    else:
        raise ApiError(
            400,
            "Give profile_id, or search_query to delete the user's current "
            "profiles that contain it.",
        )
    count = _delete_profiles(request, targets)
    return {"success": True, "message": f"Deleted {count} profile(s)."}


@endpoint(methods=DELETE, permission=EDIT, schema=schemas.DeleteProfilesByIdsRequest)
def delete_profiles_by_ids(
    request: ApiRequest, payload: schemas.DeleteProfilesByIdsRequest
) -> Json:
    targets = list(UserProfile.objects.filter(profile_id__in=payload.profile_ids))
    count = _delete_profiles(request, targets)
    return {
        "success": True,
        "deleted_count": count,
        "message": f"Deleted {count} of {len(set(payload.profile_ids))} profile(s).",
    }


@endpoint(
    methods=POST, permission=OPERATE, schema=schemas.RerunProfileGenerationRequest
)
def rerun_profile_generation(
    request: ApiRequest, payload: schemas.RerunProfileGenerationRequest
) -> Json:
    operation = profile_services.rerun_profile_generation(
        user_id=payload.user_id,
        start_time=payload.start_time,
        end_time=payload.end_time,
        source=payload.source,
        extractor_names=payload.extractor_names or None,
        **starter_of(request),
    )
    return {
        "success": True,
        "msg": started(operation),
        "profiles_generated": None,
        "operation_id": str(operation.pk),
    }


def _manual_permission(payload: schemas.ManualProfileGenerationRequest) -> str:
    return GENERATE_ONE_USER if payload.user_id else OPERATE


@endpoint(
    methods=POST,
    permission=_manual_permission,
    schema=schemas.ManualProfileGenerationRequest,
)
def manual_profile_generation(
    request: ApiRequest, payload: schemas.ManualProfileGenerationRequest
) -> Json:
    operation = profile_services.manual_profile_generation(
        user_id=payload.user_id,
        source=payload.source,
        extractor_names=payload.extractor_names or None,
        **starter_of(request),
    )
    return {
        "success": True,
        "msg": started(operation),
        "profiles_generated": None,
        "operation_id": str(operation.pk),
    }


def _whom(user_id: str | None, what: str) -> str:
    return f"{what} for user {user_id}" if user_id else what


@endpoint(methods=POST, permission=OPERATE, schema=schemas.UpgradeProfilesRequest)
def upgrade_all_profiles(
    request: ApiRequest, payload: schemas.UpgradeProfilesRequest
) -> Json:
    if payload.profile_ids:
        raise ApiError(
            400,
            "profile_ids: not supported; an upgrade promotes whole generations. "
            "Pass user_id to upgrade one user.",
        )
    result = profile_services.upgrade_profiles(
        user_id=payload.user_id,
        only_affected_users=payload.only_affected_users,
        **actor_of(request),
    )
    if result.changed:
        message = (
            f"Promoted {result.promoted} pending profile(s) of {result.users} "
            f"user(s); archived {result.archived}, deleted {result.deleted} old "
            "archived."
        )
    else:
        message = (
            f"Nothing to upgrade: no {_whom(payload.user_id, 'pending profiles')}."
        )
    return {
        "success": True,
        "profiles_promoted": result.promoted,
        "profiles_archived": result.archived,
        "profiles_deleted": result.deleted,
        "message": message,
    }


@endpoint(methods=POST, permission=OPERATE, schema=schemas.DowngradeProfilesRequest)
def downgrade_all_profiles(
    request: ApiRequest, payload: schemas.DowngradeProfilesRequest
) -> Json:
    if payload.profile_ids:
        raise ApiError(
            400,
            "profile_ids: not supported; a downgrade restores whole generations. "
            "Pass user_id to downgrade one user.",
        )
    result = profile_services.downgrade_profiles(
        user_id=payload.user_id, **actor_of(request)
    )
    if result.changed:
        message = (
            f"Restored {result.restored} archived profile(s) of {result.users} "
            f"user(s); archived {result.demoted} current."
        )
    else:
        message = (
            f"Nothing to downgrade: no {_whom(payload.user_id, 'archived profiles')}."
        )
    return {
        "success": True,
        "profiles_restored": result.restored,
        "profiles_demoted": result.demoted,
        "message": message,
    }
