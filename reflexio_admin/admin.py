from django.contrib import admin

from reflexio_admin.models import (
    ApiKey,
    AuditEvent,
    DeletedItem,
    ExtractionCursor,
    GenerationSettings,
    Interaction,
    Operation,
    OperationUser,
    Request,
)


@admin.register(Request)
class RequestAdmin(admin.ModelAdmin):
    list_display = ["request_id", "user_id", "session_id", "agent_version", "source"]
    list_filter = ["agent_version", "source"]
    search_fields = ["request_id", "user_id", "session_id"]
    show_full_result_count = False


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "role", "content", "agent_version", "created_at"]
    list_filter = ["role", "agent_version", "source"]
    search_fields = ["user_id"]
    raw_id_fields = ["request"]
    show_full_result_count = False


@admin.register(GenerationSettings)
class GenerationSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "batch_size", "batch_interval", "chat_model"]


class OperationUserInline(admin.TabularInline):
    model = OperationUser
    extra = 0
    fields = ["user_id", "state", "items", "error", "finished_at"]
    readonly_fields = fields
    can_delete = False
    show_change_link = False
    max_num = 0


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "requested_by", "created_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["requested_by"]
    raw_id_fields = ["requested_by", "retry_of"]
    show_full_result_count = False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "actor_name", "action", "operation"]
    list_filter = ["action"]
    search_fields = ["actor_name", "action"]
    list_select_related = ["operation"]
    raw_id_fields = ["actor", "operation"]
    show_full_result_count = False


@admin.register(DeletedItem)
class DeletedItemAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "item_id", "user_id", "audit_event"]
    list_filter = ["kind"]
    search_fields = ["user_id", "item_id"]
    raw_id_fields = ["audit_event"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "prefix",
        "name",
        "user",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_select_related = ["user"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]
    raw_id_fields = ["user"]


@admin.register(ExtractionCursor)
class ExtractionCursorAdmin(admin.ModelAdmin):
    list_display = ["scope_key", "last_interaction_id", "updated_at"]
    search_fields = ["scope_key"]
