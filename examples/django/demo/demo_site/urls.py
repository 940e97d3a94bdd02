"""The demo's URLs: the adapter's pages under ``portal/``, Django's language switch, orders,
work requests."""

from django.urls import include, path

from demo_site import views

urlpatterns = [
    path("", views.home, name="home"),
    path("orders/", views.orders, name="orders"),
    path("orders/<str:reference>/", views.order, name="order"),
    path("work-requests/", views.work_requests, name="work_requests"),
    path("admin/logins/", views.admin_logins, name="admin_logins"),
    path("portal/", include("portalkit_django.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]
