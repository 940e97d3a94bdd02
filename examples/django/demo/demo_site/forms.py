"""The demo's Django forms: what a member types in, before portalkit checks it."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class WorkRequestForm(forms.Form):
    """A new work request. Only the shape is Django's to check (a date that parses); the
    rules — a subject, notes of at most 4,000 characters, a site within the member's reach
    — are portalkit's, whose problems the view adds to the form in the member's language."""

    subject = forms.CharField(label=_("Subject"), required=False)
    site = forms.CharField(label=_("Site"), required=False)
    notes = forms.CharField(label=_("Notes"), required=False, widget=forms.Textarea)
    wished_at = forms.DateTimeField(
        label=_("Wished for"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
