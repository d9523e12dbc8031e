from django.urls import path

from profiles import review_views, views

app_name = "profiles"

urlpatterns = [
    path("", views.profile_list, name="profile_list"),
    # User ids are free text and may hold "/" (e.g. "team/ana" or even
    # "team/add"), so a user id is always the last part of its URL.
    path("users/<path:user_id>/", views.user_detail, name="user_detail"),
    path("add/<path:user_id>/", views.profile_add, name="profile_add"),
    path("<int:pk>/", views.profile_detail, name="profile_detail"),
    path("<int:pk>/edit/", views.profile_edit, name="profile_edit"),
    path("<int:pk>/delete/", views.profile_delete, name="profile_delete"),
    path("rerun/", views.rerun, name="rerun"),
    path("manual/", views.manual, name="manual"),
    path("upgrade/", views.upgrade, name="upgrade"),
    path("downgrade/", views.downgrade, name="downgrade"),
    path("review/", review_views.review_page, name="review"),
    # The review and the rerun cost preview (profiles/review_views.py)
    path("review/decide/", review_views.review_decide, name="review_decide"),
    path("review/upgrade/", review_views.review_upgrade, name="review_upgrade"),
    path("review/summary/", review_views.review_summary, name="review_summary"),
    path("rerun/cost/", review_views.rerun_cost, name="rerun_cost"),
]
