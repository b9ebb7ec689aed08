from django.urls import path

from console.releases import views

urlpatterns = [
    path("agent-releases/", views.releases, name="agent-releases"),
]
