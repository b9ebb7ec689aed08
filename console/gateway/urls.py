from django.urls import path

from console.gateway import views

urlpatterns = [path("register", views.register, name="agent-register")]
