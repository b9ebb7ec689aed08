from django.urls import path

from console.terminals import views

urlpatterns = [
    path("instances/<str:instance_id>/", views.instance_detail, name="instance"),
    path("instances/<str:instance_id>/tags/add/", views.instance_tag_add, name="instance-tag-add"),
    path("instances/<str:instance_id>/tags/remove/", views.instance_tag_remove, name="instance-tag-remove"),
    path("terminals/", views.session_list, name="terminals"),
    path("terminals/<str:session_id>/", views.terminal, name="terminal"),
    path("terminals/<str:session_id>/replay/", views.replay, name="terminal-replay"),
    path("terminals/<str:session_id>/recording.cast", views.recording, name="terminal-recording"),
    path("terminals/<str:session_id>/end/", views.end, name="terminal-end"),
]
