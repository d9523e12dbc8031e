"""The console roles: Django groups and the permissions each one carries."""

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
