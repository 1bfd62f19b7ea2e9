from django.urls import path

from relais.regulation import referral_views

app_name = "referrals"
urlpatterns = [path("pro/mes-adressages/", referral_views.my_referrals, name="mine")]
