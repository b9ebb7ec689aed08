from django.urls import path

from console.files import views

urlpatterns = [
    path("files/send/", views.file_send_page, name="file-send"),
    path("files/", views.transfer_list, name="file-transfers"),
    path("files/<str:transfer_id>/", views.transfer_detail, name="file-transfer"),
]
