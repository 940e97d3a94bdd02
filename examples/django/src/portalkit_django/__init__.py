"""portalkit in a Django project.

Add ``"portalkit_django"`` to ``INSTALLED_APPS`` and
``"portalkit_django.middleware.PortalkitMiddleware"`` to ``MIDDLEWARE`` (after the session
and CSRF middleware), describe the portal in ``settings.PORTALKIT``, run
``manage.py portalkit_migrate``, and include ``portalkit_django.urls`` for the log-in pages::

    from portalkit_django.decorators import capability_required

    @capability_required("orders.view")
    def orders(request):
        query = request.portal_access.filter(select(orders_table), "orders")
        ...

Nothing is imported here: Django loads the app's modules when it is ready.
"""
