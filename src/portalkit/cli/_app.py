"""What every command shares: the portal built from settings, ``--json``, errors and exit codes.

A command group is a module beside this one (see :mod:`portalkit.cli.mail`); its commands take
the :class:`Runtime` with :func:`pass_runtime`, get ``--json`` from :func:`json_option`, print
through ``runtime.out`` and let PortalError propagate: :class:`Root` turns every error a person
can fix into one line on stderr and an :class:`ExitCode`.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn, ParamSpec, TypeVar, overload

import click

from portalkit.actors import System
from portalkit.cli._output import Output
from portalkit.errors import (
    ConfigurationError,
    ImproperlyInstalled,
    PortalError,
    StorageError,
)
from portalkit.mail.base import MailError
from portalkit.settings import PortalSettings, load_settings

if TYPE_CHECKING:
    from portalkit.portal import Portal
    from portalkit.vendors import Vendor

__all__ = [
    "MEANINGS",
    "ExitCode",
    "Root",
    "Runtime",
    "examples",
    "exit_code_of",
    "exit_codes_help",
    "json_option",
    "operator_options",
    "pass_runtime",
]

P = ParamSpec("P")
R = TypeVar("R")


class ExitCode(enum.IntEnum):
    """The exit status of ``portalkit``: what went wrong, so that scripts and service managers
    can tell a wrong command line from a wrong setting from a database that is down.

    ``portalkit --help`` and the command-line page of the docs say what each one means.
    """

    OK = 0
    BUG = 1
    USAGE = 2
    SETTINGS = 3
    REFUSED = 4
    UNAVAILABLE = 5
    INTERRUPTED = 130


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "done",
    ExitCode.BUG: "a bug in portalkit (the traceback is printed)",
    ExitCode.USAGE: "wrong command line: unknown command or option, bad value",
    ExitCode.SETTINGS: "a wrong setting or a missing extra: fix the deployment first",
    ExitCode.REFUSED: "refused: bad input, not found, not allowed, a conflict; nothing changed",
    ExitCode.UNAVAILABLE: "the database or the mail server failed: try again later",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); a stopped worker ends with 0",
}
"""What each exit status means, as ``portalkit --help`` and docs/cli.md list them."""


# Checked in order: ImproperlyInstalled is an ImportError too, and every class is a PortalError.
_CODES: tuple[tuple[type[PortalError], ExitCode], ...] = (
    (ConfigurationError, ExitCode.SETTINGS),
    (ImproperlyInstalled, ExitCode.SETTINGS),
    (StorageError, ExitCode.UNAVAILABLE),
    (MailError, ExitCode.UNAVAILABLE),
    (PortalError, ExitCode.REFUSED),
)


def exit_code_of(error: PortalError) -> ExitCode:
    """The exit status for a PortalError that ends a command; an error that wraps another
    (a failed provisioning step's ``cause``) gets the status of what it wraps."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, PortalError):
        return exit_code_of(cause)
    return next(code for kind, code in _CODES if isinstance(error, kind))


class Runtime:
    """One run of the command: the settings, the portal built from them (once, on first use)
    and the :class:`~portalkit.cli._output.Output`. Closed by :class:`Root` at the end."""

    def __init__(self) -> None:
        #: Where the command prints its result.
        self.out = Output()
        self._portal: Portal | None = None
        #: ``--operator NAME`` and ``--vendor CODE`` of the command (see :func:`operator_options`).
        self.operator_name: str | None = None
        self.vendor_code: str | None = None

    def settings(self, **overrides: Any) -> PortalSettings:
        """The settings (``PORTALKIT_*`` variables, ``.env``), with command-line overrides."""
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})

    @property
    def portal(self) -> Portal:
        """The portal the settings describe, as :meth:`portalkit.Portal.from_settings` builds
        it for the application (so an SQLite schema is upgraded on first use there too)."""
        if self._portal is None:
            # Imported on first use: --help, usage errors and new-key need no database.
            from portalkit.portal import Portal

            self._portal = Portal.from_settings(self.settings())
        return self._portal

    def vendors(self, code: str | None) -> list[Vendor]:
        """The vendor with this code, or every vendor when ``code`` is None."""
        platform = System(reason="portalkit command line")
        if code is None:
            return self.portal.vendors.list(platform)
        return [self.portal.vendors.get_by_code(platform, code)]

    def acting_for(self, vendor: Vendor) -> System:
        """The actor of an operator's command in one vendor (named so in the audit log)."""
        return System(vendor_id=vendor.id, reason="portalkit command line")

    def vendor(self) -> Vendor:
        """The vendor of ``--vendor CODE``, else the default vendor (PORTALKIT_DEFAULT_VENDOR,
        created on first use as the application does); NotFound for an unknown code."""
        if self.vendor_code is None:
            return self.portal.default_vendor()
        return self.vendors(self.vendor_code)[0]

    def operator(self) -> System:
        """The actor of an operator's command in :meth:`vendor`: the audit log records it as
        ``system:operator NAME (portalkit command line)`` with ``--operator NAME``."""
        reason = "portalkit command line"
        if self.operator_name is not None:
            reason = f"operator {self.operator_name} ({reason})"
        return System(vendor_id=self.vendor().id, reason=reason)

    def close(self) -> None:
        """Release the portal's connections, if it was built."""
        if self._portal is not None:
            self._portal.close()
            self._portal = None


pass_runtime = click.make_pass_decorator(Runtime)
"""Give a command the :class:`Runtime` as its first argument."""


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Runtime).out.json = True


def json_option(command: Callable[P, R]) -> Callable[P, R]:
    """Add ``--json`` to a command: its result goes to stdout as JSON, and nothing else does."""
    return click.option(
        "--json",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print the result as JSON on stdout, and nothing else there; "
        "e.g. portalkit mail flush --json | jq .sent.",
    )(command)


_OPERATOR_MAX = 100


def _set_operator(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is None:
        return
    name = value.strip()
    if not name or len(name) > _OPERATOR_MAX or not name.isprintable():
        raise click.BadParameter(
            f"give your name or login, 1 to {_OPERATOR_MAX} printable characters", ctx, param
        )
    ctx.ensure_object(Runtime).operator_name = name


def _set_vendor(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Runtime).vendor_code = value


def operator_options(*, required: bool = True) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Add ``--operator NAME`` and ``--vendor CODE`` to a command; it then acts as
    ``runtime.operator()`` in ``runtime.vendor()``.

    The operator's name is recorded in the audit log with everything the command changes,
    so a command that changes something requires it (``required=False`` for one that only
    reads). Example::

        @group.command()
        @operator_options()
        @json_option
        @pass_runtime
        def prune(runtime: Runtime) -> None:
            runtime.portal.something(runtime.operator())
    """

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        command = click.option(
            "--vendor",
            metavar="CODE",
            expose_value=False,
            callback=_set_vendor,
            help="The vendor to act in (default: PORTALKIT_DEFAULT_VENDOR); e.g. --vendor acme.",
        )(command)
        return click.option(
            "--operator",
            metavar="NAME",
            required=required,
            expose_value=False,
            callback=_set_operator,
            help="Who runs the command, as the audit log records it; e.g. --operator jdoe.",
        )(command)

    return decorate


def examples(*lines: str) -> str:
    """An epilog of examples for a command's ``--help``, kept as written (click's ``\\b``)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in text.splitlines() if part.strip())


def _fail(prefix: str, message: str) -> None:
    click.echo(f"{prefix}: {_one_line(message)}", err=True)


class Root(click.Group):
    """The ``portalkit`` group: runs a command with its :class:`Runtime` and turns every error
    a person can fix into one line on stderr and an :class:`ExitCode`; only bugs show a
    traceback. CliRunner and the installed command behave alike, since both call
    :meth:`main`."""

    @overload
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: Literal[True] = True,
        **extra: Any,
    ) -> NoReturn: ...

    @overload
    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = ...,
        **extra: Any,
    ) -> Any: ...

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; returns the exit status, or exits with it when
        ``standalone_mode`` (the default, as for any click command)."""
        prog_name = prog_name or "portalkit"
        runtime = extra.pop("obj", None) or Runtime()
        try:
            code = self._run(args, prog_name, complete_var, windows_expand_args, runtime, extra)
        finally:
            runtime.close()
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(
        self,
        args: Sequence[str] | None,
        prog_name: str,
        complete_var: str | None,
        windows_expand_args: bool,
        runtime: Runtime,
        extra: dict[str, Any],
    ) -> int:
        try:
            result = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                obj=runtime,
                **extra,
            )
        except click.exceptions.NoArgsIsHelpError as exc:
            # ``portalkit`` or ``portalkit mail`` alone: the help is the most useful answer.
            click.echo(exc.ctx.get_help(), err=True)
            return ExitCode.USAGE
        except click.UsageError as exc:
            path = exc.ctx.command_path if exc.ctx else prog_name
            _fail(path, f"{exc.format_message()} (see '{path} --help')")
            return ExitCode.USAGE
        except click.ClickException as exc:
            _fail(prog_name, exc.format_message())
            return exc.exit_code
        except click.Abort:
            _fail(prog_name, "interrupted")
            return ExitCode.INTERRUPTED
        except PortalError as exc:
            _fail(prog_name, str(exc) or type(exc).__name__)
            return exit_code_of(exc)
        # A command returns None; ``--help`` and ``ctx.exit(n)`` return their status.
        return result if isinstance(result, int) else ExitCode.OK


def exit_codes_help() -> str:
    """The list of exit codes, for the epilog of ``portalkit --help``."""
    rows = "\n".join(f"  {code.value:<5}{meaning}" for code, meaning in MEANINGS.items())
    return f"Exit status:\n\n\b\n{rows}"
