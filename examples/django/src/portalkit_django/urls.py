"""The log-in views' URLs: ``path("portal/", include("portalkit_django.urls"))``."""

from django.urls import path

from portalkit_django import integration_views, views

app_name = "portalkit"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("login/code/", views.login_code, name="login_code"),
    path("login/second-factor/", views.enrol_second_factor, name="enrol_second_factor"),
    path("logout/", views.logout, name="logout"),
    path("forgot-password/", views.forgot_password, name="forgot_password"),
    path("reset-password/", views.reset_password, name="reset_password"),
    path("accept-invitation/", views.accept_invitation, name="accept_invitation"),
    path("change-password/", views.change_password, name="change_password"),
    path("second-factor/", views.second_factor, name="second_factor"),
    path("change-email/", views.change_email, name="change_email"),
    path("confirm-email/", views.confirm_email, name="confirm_email"),
    path("switch-customer/", views.switch_customer, name="switch_customer"),
    path("sessions/", views.sessions, name="sessions"),
    path("view-as/end/", views.end_view, name="end_view"),
    # Integrations (issue 18): access tokens and single sign-on.
    path("access-tokens/", integration_views.access_tokens, name="access_tokens"),
    path(
        "customer-access-tokens/",
        integration_views.customer_access_tokens,
        name="customer_access_tokens",
    ),
    path("sso/", integration_views.sso_start, name="sso_start"),
    path("sso/callback/", integration_views.sso_callback, name="sso_callback"),
]
