from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from playbooks.models import (
    AgentPlaybook,
    PlaybookExtractor,
    PlaybookGeneration,
    UserPlaybook,
)


@admin.register(PlaybookExtractor)
class PlaybookExtractorAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "enabled",
        "allow_manual_trigger",
        "aggregation_enabled",
        "min_cluster_size",
        "clustering_similarity",
    ]
    list_filter = ["enabled", "allow_manual_trigger", "aggregation_enabled"]
    search_fields = ["name"]


@admin.register(PlaybookGeneration)
class PlaybookGenerationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "user_id",
        "agent_version",
        "playbook_name",
        "status",
        "created_at",
    ]
    list_filter = ["status", "agent_version"]
    search_fields = ["user_id"]
    raw_id_fields = ["operation"]
    show_full_result_count = False


@admin.register(UserPlaybook)
class UserPlaybookAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "agent_version", "playbook_name", "status"]
    list_filter = ["status", "agent_version", "playbook_name"]
    search_fields = ["user_id", "content", "trigger"]
    raw_id_fields = ["generation", "operation"]
    exclude = ["embedding"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[UserPlaybook]:
        return super().get_queryset(request).defer("embedding")


@admin.register(AgentPlaybook)
class AgentPlaybookAdmin(admin.ModelAdmin):
    list_display = ["id", "agent_version", "playbook_name", "approval", "reviewed_by"]
    list_filter = ["approval", "agent_version", "playbook_name"]
    search_fields = ["content", "trigger"]
    list_select_related = ["reviewed_by"]
    raw_id_fields = ["operation", "reviewed_by"]
    filter_horizontal = ["user_playbooks"]
    exclude = ["embedding"]
    show_full_result_count = False
