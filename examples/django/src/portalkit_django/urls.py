"""The log-in views' URLs: ``path("portal/", include("portalkit_django.urls"))``."""

from django.urls import path

from portalkit_django import views

app_name = "portalkit"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("forgot-password/", views.forgot_password, name="forgot_password"),
    path("reset-password/", views.reset_password, name="reset_password"),
    path("accept-invitation/", views.accept_invitation, name="accept_invitation"),
    path("change-password/", views.change_password, name="change_password"),
    path("change-email/", views.change_email, name="change_email"),
    path("confirm-email/", views.confirm_email, name="confirm_email"),
    path("switch-customer/", views.switch_customer, name="switch_customer"),
    path("view-as/end/", views.end_view, name="end_view"),
]
