"""URLs of the JSON API, mounted under /api/.

The paths are Reflexio's own (snake_case, no trailing slash) so that the
published reflexio-client works against this server unchanged.
"""

from django.urls import path

from reflexio_admin.api import review
from reflexio_admin.api.views import conversations, operations, playbooks, profiles

app_name = "api"

urlpatterns = [
    # Conversations
    path(
        "publish_interaction",
        conversations.publish_interaction,
        name="publish_interaction",
    ),
    path("get_interactions", conversations.get_interactions, name="get_interactions"),
    path("get_requests", conversations.get_requests, name="get_requests"),
    # Profiles
    path("get_profiles", profiles.get_profiles, name="get_profiles"),
    path("get_all_profiles", profiles.get_all_profiles, name="get_all_profiles"),
    path("add_user_profile", profiles.add_user_profile, name="add_user_profile"),
    path(
        "update_user_profile", profiles.update_user_profile, name="update_user_profile"
    ),
    path("delete_profile", profiles.delete_profile, name="delete_profile"),
    path(
        "delete_profiles_by_ids",
        profiles.delete_profiles_by_ids,
        name="delete_profiles_by_ids",
    ),
    path(
        "rerun_profile_generation",
        profiles.rerun_profile_generation,
        name="rerun_profile_generation",
    ),
    path(
        "manual_profile_generation",
        profiles.manual_profile_generation,
        name="manual_profile_generation",
    ),
    path(
        "upgrade_all_profiles",
        profiles.upgrade_all_profiles,
        name="upgrade_all_profiles",
    ),
    path(
        "downgrade_all_profiles",
        profiles.downgrade_all_profiles,
        name="downgrade_all_profiles",
    ),
    # Operations
    path(
        "get_operation_status",
        operations.get_operation_status,
        name="get_operation_status",
    ),
    path("cancel_operation", operations.cancel_operation, name="cancel_operation"),
    path("retry_operation", operations.retry_operation, name="retry_operation"),
    # Playbooks
    path("get_user_playbooks", playbooks.get_user_playbooks, name="get_user_playbooks"),
    path(
        "get_agent_playbooks", playbooks.get_agent_playbooks, name="get_agent_playbooks"
    ),
    path("add_user_playbook", playbooks.add_user_playbook, name="add_user_playbook"),
    path(
        "update_user_playbook",
        playbooks.update_user_playbook,
        name="update_user_playbook",
    ),
    path(
        "delete_user_playbook",
        playbooks.delete_user_playbook,
        name="delete_user_playbook",
    ),
    path(
        "rerun_playbook_generation",
        playbooks.rerun_playbook_generation,
        name="rerun_playbook_generation",
    ),
    path(
        "manual_playbook_generation",
        playbooks.manual_playbook_generation,
        name="manual_playbook_generation",
    ),
    path(
        "upgrade_all_user_playbooks",
        playbooks.upgrade_all_user_playbooks,
        name="upgrade_all_user_playbooks",
    ),
    path(
        "downgrade_all_user_playbooks",
        playbooks.downgrade_all_user_playbooks,
        name="downgrade_all_user_playbooks",
    ),
    path(
        "run_playbook_aggregation",
        playbooks.run_playbook_aggregation,
        name="run_playbook_aggregation",
    ),
    path(
        "update_agent_playbook_status",
        playbooks.update_agent_playbook_status,
        name="update_agent_playbook_status",
    ),
    path(
        "update_agent_playbook",
        playbooks.update_agent_playbook,
        name="update_agent_playbook",
    ),
    # The caller
    path("whoami", conversations.whoami, name="whoami"),
    # The review, for scripts (reflexio_admin/api/review.py)
    path("review/profiles", review.profile_review, name="review_profiles"),
    path(
        "review/user_playbooks",
        review.user_playbook_review,
        name="review_user_playbooks",
    ),
]
