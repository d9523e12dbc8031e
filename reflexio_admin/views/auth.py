"""Logging in and out, with Django's own views."""

from __future__ import annotations

from django.contrib.auth import views as auth_views

from reflexio_admin.security import ThrottledAuthenticationForm


class ConsoleLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True


class ConsoleLogoutView(auth_views.LogoutView):
    """Log out on POST (the navigation's button) and go back to the login page."""
