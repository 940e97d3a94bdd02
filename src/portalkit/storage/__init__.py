"""Storage backends and their contract (:mod:`portalkit.storage.base`)."""
