"""The core stays framework-free and light, and every public name is documented."""

from __future__ import annotations

import ast
import graphlib
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import portalkit


def _modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.walk_packages(portalkit.__path__, "portalkit.")
        if ".migrations" not in m.name and m.name != "portalkit.testing.contract"
    ]


def test_the_core_imports_neither_flask_nor_django() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'django'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_importing_portalkit_loads_no_database_library() -> None:
    code = (
        "import sys, portalkit\n"
        "print(','.join(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('sqlalchemy', 'alembic', 'psycopg'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_every_public_name_has_a_docstring() -> None:
    missing = []
    for name in portalkit.__all__:
        obj = getattr(portalkit, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
            missing.append(name)
    for module_name in _modules():
        module = importlib.import_module(module_name)
        if not module.__doc__:
            missing.append(module_name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                if not obj.__doc__:
                    missing.append(f"{module_name}.{attr}")
                if inspect.isclass(obj) and attr.endswith("Service"):
                    missing += [
                        f"{module_name}.{attr}.{m}"
                        for m, f in vars(obj).items()
                        if not m.startswith("_") and callable(f) and not f.__doc__
                    ]
    assert missing == []


def test_the_module_graph_has_no_cycle() -> None:
    """Imports run one way: no module reaches itself again through what it imports, counting
    type-only and function-local imports (grimp sees both)."""
    graph = grimp.build_graph("portalkit", cache_dir=None)
    imports = {name: graph.find_modules_directly_imported_by(name) for name in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as exc:
        pytest.fail("import cycle: " + " -> ".join(exc.args[1]))


def test_the_core_names_no_concrete_backend() -> None:
    """``import portalkit`` loads no storage or mail backend: Portal and portalkit.mail load
    them by name when a portal (or a host) first asks for one."""
    code = (
        "import sys, portalkit\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(("
        "'portalkit.storage.memory', 'portalkit.storage.sqlalchemy', 'portalkit.mail.console', "
        "'portalkit.mail.file', 'portalkit.mail.memory', 'portalkit.mail.smtp')))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_the_mail_backends_still_import_from_portalkit_mail() -> None:
    import portalkit.mail as mail
    from portalkit.mail.smtp import SmtpMailer

    assert mail.SmtpMailer is SmtpMailer
    assert set(mail.__all__) <= set(dir(mail))
    with pytest.raises(AttributeError):
        _ = mail.NoSuchMailer


# A storage backend's repositories and unit of work are one object split in classes, which
# share their private state within the backend's own module.
_BACKENDS = ("storage/memory.py", "storage/sqlalchemy/")


def test_nothing_reads_another_objects_private_attributes() -> None:
    """A service gets what it needs through its constructor and public methods: outside a
    storage backend, no ``other._name`` (only ``self._name`` and ``cls._name``)."""
    root = Path(portalkit.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if "/migrations/" in relative or relative.startswith(_BACKENDS):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                found.append(f"{relative}:{node.lineno} {ast.unparse(node)}")
    assert found == []
