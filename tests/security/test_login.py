import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.test import RequestFactory

from reflexio_admin.models import AuditEvent
from reflexio_admin.security import LoginThrottled, cooloff_message

pytestmark = pytest.mark.django_db


def sign_in(password: str, address: str = "10.0.0.1"):
    request = RequestFactory().post("/login/", REMOTE_ADDR=address)
    return authenticate(request, username="rita", password=password)


@pytest.fixture
def rita():
    return User.objects.create_user("rita", password="correct horse battery")


def test_failed_and_successful_sign_ins_are_audited_with_the_address(rita, client):
    assert sign_in("wrong") is None
    client.post("/login/", {"username": "rita", "password": "correct horse battery"})

    failed = AuditEvent.objects.get(action="login_failed")
    assert failed.scope == {"username": "rita"}
    assert failed.ip_address == "10.0.0.1"
    assert AuditEvent.objects.filter(action="login", actor=rita).exists()


def test_sign_in_pauses_after_repeated_failures_even_with_the_right_password(
    rita, settings
):
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(3):
        assert sign_in("wrong") is None

    assert sign_in("correct horse battery") is None

    assert AuditEvent.objects.filter(action="login_throttled").exists()


def test_the_cool_off_is_per_account_and_address(rita, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    User.objects.create_user("sam", password="another good password")
    for _ in range(3):
        sign_in("wrong")

    request = RequestFactory().post("/login/", REMOTE_ADDR="10.0.0.9")
    assert authenticate(request, username="sam", password="another good password")


def test_a_successful_sign_in_clears_earlier_failures(rita, settings, client):
    settings.LOGIN_FAILURE_LIMIT = 3
    good = {"username": "rita", "password": "correct horse battery"}
    bad = {"username": "rita", "password": "wrong"}
    address = {"REMOTE_ADDR": "10.0.0.1"}
    client.post("/login/", bad, **address)
    client.post("/login/", bad, **address)
    client.post("/login/", good, **address)
    client.logout()

    client.post("/login/", bad, **address)
    client.post("/login/", bad, **address)
    client.post("/login/", good, **address)

    assert client.session.get("_auth_user_id") == str(rita.pk)


def test_the_throttle_explains_how_long_to_wait():
    assert "try again in 15 minutes" in str(LoginThrottled(cooloff_message()))
