from django.contrib import admin
from django.urls import include, path

from reflexio_admin.views.auth import ConsoleLoginView, ConsoleLogoutView
from reflexio_admin.views.overview import overview

urlpatterns = [
    path("django-admin/", admin.site.urls),
    path("api/", include("reflexio_admin.api.urls")),
    # The console.
    path("", overview, name="overview"),
    path("login/", ConsoleLoginView.as_view(), name="login"),
    path("logout/", ConsoleLogoutView.as_view(), name="logout"),
    path("profiles/", include("profiles.urls")),
    path("playbooks/", include("playbooks.urls")),
    path("", include("reflexio_admin.console_urls")),
]
