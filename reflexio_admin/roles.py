"""The console roles: Django groups and the permissions each one carries."""

from typing import Any

VIEWER = "viewer"
SUPPORT = "support"
REVIEWER = "reviewer"
ADMIN = "admin"

VIEW_CONSOLE = "reflexio_admin.view_console"
EDIT_PROFILES = "reflexio_admin.edit_profiles"
GENERATE_FOR_USER = "reflexio_admin.generate_for_user"
RUN_OPERATIONS = "reflexio_admin.run_operations"
REVIEW_PLAYBOOKS = "reflexio_admin.review_playbooks"
MANAGE_SETTINGS = "reflexio_admin.manage_settings"

PERMISSIONS = [
    ("view_console", "Can read everything in the console"),
    ("edit_profiles", "Can add, edit and delete single profile facts"),
    ("generate_for_user", "Can run manual generation for one user"),
    ("run_operations", "Can rerun, upgrade, downgrade and aggregate"),
    ("review_playbooks", "Can approve, reject and edit agent playbooks"),
    ("manage_settings", "Can change settings, API keys and users"),
]

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWER: ("view_console",),
    SUPPORT: ("view_console", "edit_profiles", "generate_for_user"),
    REVIEWER: (
        "view_console",
        "edit_profiles",
        "generate_for_user",
        "run_operations",
        "review_playbooks",
    ),
    ADMIN: (
        "view_console",
        "edit_profiles",
        "generate_for_user",
        "run_operations",
        "review_playbooks",
        "manage_settings",
    ),
}


def role_of(user: Any) -> str | None:
    """The highest role whose every permission `user` holds, or None.

    Read from the permissions the console checks on every page anyway (Django
    caches them on the user for the request), so naming the role costs no
    query; a superuser holds every permission and is shown as an admin.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    for role in (ADMIN, REVIEWER, SUPPORT, VIEWER):
        if all(
            user.has_perm(f"reflexio_admin.{name}") for name in ROLE_PERMISSIONS[role]
        ):
            return role
    return None
