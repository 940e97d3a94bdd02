"""The kinds of CSV file portalkit imports, and the columns each one has."""

from __future__ import annotations

import attrs

__all__ = ["KINDS", "Kind"]


@attrs.frozen
class Kind:
    """One kind of import file: its required and optional columns, and the columns whose
    values together may appear only once in a file (the key a re-run upserts by)."""

    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    key: tuple[str, ...]
    ignored: tuple[str, ...] = ()
    """Columns an export of this kind adds (status, rights) that an import reads past, so
    that an exported file can be imported again."""
    import_only: tuple[str, ...] = ()
    """Optional columns an import takes and an export never writes (a peer's password hash)."""

    @property
    def exported(self) -> tuple[str, ...]:
        """The header of an export of this kind."""
        return tuple(c for c in self.columns if c not in self.import_only) + self.ignored

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column a file of this kind may have, required ones first."""
        return self.required + self.optional


_ADDRESS = ("street", "postal_code", "city", "country")

KINDS: dict[str, Kind] = {
    "customers": Kind(
        "customers",
        required=("code", "name"),
        optional=("erp_reference", "parent", *_ADDRESS),
        key=("code",),
        ignored=("active",),
    ),
    "locations": Kind(
        "locations",
        required=("customer", "code", "name"),
        optional=_ADDRESS,
        key=("customer", "code"),
    ),
    "contacts": Kind(
        "contacts",
        required=("customer", "email", "first_name", "last_name"),
        optional=("job_title", "department", "phone"),
        key=("customer", "email"),
    ),
    "logins": Kind(
        "logins",
        required=("customer", "email", "first_name", "last_name"),
        optional=(
            "username",
            "language",
            "profile",
            "locations",
            "job_title",
            "department",
            "phone",
            "password_hash",
        ),
        key=("customer", "email"),
        ignored=("status", "kind", "capabilities", "customer_grants", "last_login_at"),
        import_only=("password_hash",),
    ),
}
"""The import kinds by name, in the order a new customer environment is loaded."""
