from django.urls import path

from playbooks import review_views, views

app_name = "playbooks"

urlpatterns = [
    path("", views.user_playbook_list, name="user_playbook_list"),
    path("agent/", views.agent_playbook_list, name="agent_playbook_list"),
    path("agent-versions/", views.agent_version_options, name="agent_versions"),
    path("agent/<int:pk>/", views.agent_playbook_detail, name="agent_playbook_detail"),
    path(
        "agent/<int:pk>/sources/",
        views.agent_playbook_sources,
        name="agent_playbook_sources",
    ),
    path(
        "agent/<int:pk>/approve/",
        views.agent_playbook_approve,
        name="agent_playbook_approve",
    ),
    path(
        "agent/<int:pk>/reject/",
        views.agent_playbook_reject,
        name="agent_playbook_reject",
    ),
    path("agent/<int:pk>/edit/", views.agent_playbook_edit, name="agent_playbook_edit"),
    path("rerun/", views.rerun, name="rerun"),
    path("manual/", views.manual, name="manual"),
    path("upgrade/", views.upgrade, name="upgrade"),
    path("downgrade/", views.downgrade, name="downgrade"),
    path("aggregate/", views.aggregate, name="aggregate"),
    path("review/", review_views.review_page, name="review"),
    # The review and the rerun cost preview (playbooks/review_views.py)
    path("review/decide/", review_views.review_decide, name="review_decide"),
    path("review/upgrade/", review_views.review_upgrade, name="review_upgrade"),
    path("rerun/cost/", review_views.rerun_cost, name="rerun_cost"),
]
