from django.urls import path

from relais.indicators import views

app_name = "indicators"
urlpatterns = [
    path("indicateurs/", views.dashboard, name="dashboard"),
    path("indicateurs/export/<slug:table>.csv", views.export, {"fmt": "csv"}, name="export_csv"),
    path("indicateurs/export/<slug:table>.xlsx", views.export, {"fmt": "xlsx"}, name="export_xlsx"),
    path("indicateurs/rapport-ars/", views.report, name="report"),
    path("indicateurs/rapport-ars.pdf", views.report_as_pdf, name="report_pdf"),
]
