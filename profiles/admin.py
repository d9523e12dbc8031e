from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from profiles.models import ProfileExtractor, ProfileGeneration, UserProfile


@admin.register(ProfileExtractor)
class ProfileExtractorAdmin(admin.ModelAdmin):
    list_display = ["name", "enabled", "allow_manual_trigger", "batch_size"]
    list_filter = ["enabled", "allow_manual_trigger"]
    search_fields = ["name"]


@admin.register(ProfileGeneration)
class ProfileGenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "extractor_name", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["user_id"]
    raw_id_fields = ["operation"]
    show_full_result_count = False


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ["id", "user_id", "content", "extractor_name", "status", "source"]
    list_filter = ["status", "extractor_name"]
    search_fields = ["user_id", "content"]
    raw_id_fields = ["generation", "operation"]
    exclude = ["embedding"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[UserProfile]:
        return super().get_queryset(request).defer("embedding")
