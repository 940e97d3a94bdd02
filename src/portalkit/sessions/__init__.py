"""A member's sessions as records: lifetimes, "where am I logged in" and ending one."""
