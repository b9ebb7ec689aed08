from django.contrib.auth import views as auth_views
from django.urls import path

from console.iam import views as iam_views
from console.web import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("instances/", views.instance_list, name="instances"),
    path("activations/", views.activation_list, name="activations"),
    path("run/", views.run_command, name="run"),
    path("invocations/", views.invocation_list, name="invocations"),
    path("invocations/<str:invocation_id>/", views.invocation_detail, name="invocation"),
    path("iam/", iam_views.iam_home, name="iam"),
]
