from django.apps import AppConfig


class ReflexioAdminConfig(AppConfig):
    name = "reflexio_admin"
    verbose_name = "Reflexio Admin"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connect the sign-in audit receivers.
        from reflexio_admin import security  # noqa: F401
