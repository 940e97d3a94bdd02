"""The demo's settings: SQLite beside this folder (``DEMO_DB`` for another file), portalkit's
tables in it under ``portalkit_``, mail printed to the console. Demo only: the secrets here
are in the source, and the portal runs on plain http://127.0.0.1 with ``DEBUG`` on."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DEMO_DEBUG", "1") == "1"
SECRET_KEY = "demo only: a Django secret that is in the source"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "Europe/Amsterdam"  # the hotel's: a wished date typed in is read as its local time

INSTALLED_APPS = [
    "django.contrib.sessions",
    "django.contrib.messages",
    "portalkit_django",
    "demo_site",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portalkit_django.middleware.PortalkitMiddleware",
]
ROOT_URLCONF = "demo_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB", str(BASE_DIR / "demo.db")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("de", "Deutsch")]

PORTALKIT = {
    "SECRET_KEY": "demo only: the throttle secret",
    "BASE_URL": "http://127.0.0.1:8000",
    "MAIL_BACKEND": os.environ.get("DEMO_MAIL", "console"),  # "memory" for its test
    "MAIL_ENCRYPTION_KEY": "qp_TOrtrX5vBv8R_LSid9Fn9o7WXektC6RhLlcY1Ylw=",
    "PORTAL_NAME": "Django demo portal",
    "LOGIN_PATH": "/portal/login/",
    "INVITE_PATH": "/portal/accept-invitation/?token={token}",
    "RESET_PATH": "/portal/reset-password/?token={token}",
    "EMAIL_CHANGE_PATH": "/portal/confirm-email/?token={token}",
}
