"""The console pages that belong to no one app: operations, settings, audit."""

from django.urls import path

from reflexio_admin.views import audit, interactions, operations, settings

app_name = "console"

urlpatterns = [
    path("interactions/", interactions.interaction_list, name="interaction_list"),
    path("operations/", operations.operation_list, name="operation_list"),
    path("operations/<int:pk>/", operations.operation_detail, name="operation_detail"),
    path(
        "operations/<int:pk>/progress/",
        operations.operation_progress,
        name="operation_progress",
    ),
    path(
        "operations/<int:pk>/cancel/",
        operations.operation_cancel_view,
        name="operation_cancel",
    ),
    path(
        "operations/<int:pk>/retry/",
        operations.operation_retry_view,
        name="operation_retry",
    ),
    path("settings/", settings.settings_view, name="settings"),
    path(
        "settings/generation/",
        settings.generation_settings_edit,
        name="generation_settings_edit",
    ),
    path(
        "settings/profile-extractors/new/",
        settings.extractor_edit,
        {"kind": "profile"},
        name="profile_extractor_create",
    ),
    path(
        "settings/profile-extractors/<int:pk>/",
        settings.extractor_edit,
        {"kind": "profile"},
        name="profile_extractor_edit",
    ),
    path(
        "settings/playbook-extractors/new/",
        settings.extractor_edit,
        {"kind": "playbook"},
        name="playbook_extractor_create",
    ),
    path(
        "settings/playbook-extractors/<int:pk>/",
        settings.extractor_edit,
        {"kind": "playbook"},
        name="playbook_extractor_edit",
    ),
    path("settings/api-keys/new/", settings.apikey_create, name="apikey_create"),
    path(
        "settings/api-keys/<int:pk>/revoke/",
        settings.apikey_revoke,
        name="apikey_revoke",
    ),
    path(
        "settings/users/<int:pk>/role/", settings.user_role_edit, name="user_role_edit"
    ),
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/<int:pk>/", audit.audit_detail, name="audit_detail"),
]
