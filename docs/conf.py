"""Sphinx configuration of portalkit's documentation (MyST Markdown pages, furo theme).

Build it with warnings as errors, as CI does::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import importlib.util

import portalkit

project = "portalkit"
author = "The portalkit developers"
copyright = "The portalkit developers"
release = portalkit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "myst_parser",
]
# No intersphinx: the docs must build without network access.

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# -- MyST ---------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc ------------------------------------------------------------------------------
# Each object is documented once, under the name users import it by (``portalkit.Portal``);
# autodoc records the defining module (``portalkit.portal.Portal``) as its canonical alias,
# so cross-references by either name resolve and no object is described twice.
autodoc_default_options = {
    "member-order": "bysource",
    # pydantic's machinery on PortalSettings is not portalkit's API.
    "exclude-members": "model_config, model_computed_fields, model_fields",
}
# portalkit.testing.contract needs pytest, which the ``docs`` extra does not install.
autodoc_mock_imports = [] if importlib.util.find_spec("pytest") else ["pytest"]
# Types go in the description, signatures stay short.
autodoc_typehints = "description"
autodoc_typehints_description_target = "all"
autodoc_typehints_format = "short"
# The class signature is shown as an ``__init__`` entry, which the pages leave out for the attrs
# records (they read as a list of typed fields) and keep where people call the constructor
# (Portal, FixedClock, SqlStorage, the errors). It also keeps the ~30 private constructor
# parameters of pydantic's BaseSettings out of PortalSettings' entry.
autodoc_class_signature = "separated"
autoclass_content = "class"

napoleon_google_docstring = True
napoleon_numpy_docstring = False

nitpicky = False

# -- HTML ---------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"portalkit {release}"
