from django.urls import path

from console.gateway import views

urlpatterns = [
    path("register", views.register, name="agent-register"),
    path("deregister", views.deregister, name="agent-deregister"),
    path("assist-agent.pyz", views.agent_pyz, name="agent-pyz"),
    path("assist-agent.pyz.sha256", views.agent_pyz_sha256, name="agent-pyz-sha256"),
    path("install.sh", views.install_script, name="agent-install-script"),
    path("uninstall.sh", views.uninstall_script, name="agent-uninstall-script"),
    path("release-key.pub", views.release_key, name="agent-release-key"),
    path("releases/<str:version>/assist-agent.pyz", views.release_download, name="agent-release-download"),
]
