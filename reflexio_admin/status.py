"""The lifecycle of generated knowledge, shared by profiles and playbooks."""

from django.db import models


class Status(models.TextChoices):
    CURRENT = "current", "Current"
    PENDING = "pending", "Pending"
    ARCHIVED = "archived", "Archived"


class TimeToLive(models.TextChoices):
    ONE_DAY = "one_day", "One day"
    ONE_WEEK = "one_week", "One week"
    ONE_MONTH = "one_month", "One month"
    ONE_QUARTER = "one_quarter", "One quarter"
    ONE_YEAR = "one_year", "One year"
    INFINITY = "infinity", "Infinity"


TTL_DAYS = {
    TimeToLive.ONE_DAY: 1,
    TimeToLive.ONE_WEEK: 7,
    TimeToLive.ONE_MONTH: 30,
    TimeToLive.ONE_QUARTER: 91,
    TimeToLive.ONE_YEAR: 365,
}
