from django.urls import path

from console.mfa import views

urlpatterns = [
    path("login/mfa/", views.verify, name="mfa-verify"),
    path("account/mfa/", views.manage, name="mfa"),
]
