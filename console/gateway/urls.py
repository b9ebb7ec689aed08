from django.urls import path

from console.gateway import views

urlpatterns = [
    path("register", views.register, name="agent-register"),
    path("assist-agent.pyz", views.agent_pyz, name="agent-pyz"),
    path("assist-agent.pyz.sha256", views.agent_pyz_sha256, name="agent-pyz-sha256"),
    path("install.sh", views.install_script, name="agent-install-script"),
    path("uninstall.sh", views.uninstall_script, name="agent-uninstall-script"),
]
