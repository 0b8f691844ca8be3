"""Help text in the usual command-line style: ``Usage: ndtwin info DATA``, ``--out PATH``, flags without a type.

Typer renders a required argument as ``{data}`` in the usage line and every option's Python type as ``<bool>``,
``<path>``, … beside it, which reads as unfilled placeholders. ``use_plain_metavars`` switches its parameters to
upper-case names (or each parameter's own ``metavar``) and leaves flags without one; tests/test_cli_help.py checks
every command's help for leftovers.
"""

from __future__ import annotations

from typer.core import TyperArgument, TyperOption


def _argument_usage(argument: TyperArgument) -> str:
    name = argument.metavar or argument.name.upper()
    name = name if argument.required else f"[{name}]"
    return name + ("..." if argument.nargs != 1 else "")


def _argument_name(argument: TyperArgument) -> str:
    return argument.metavar or argument.name.upper()


PLAIN_TYPES = {"str": "TEXT", "int": "INTEGER"}


def _option_type(option: TyperOption, ctx) -> str | None:
    """``PATH``, ``INTEGER``, ``[a|b]`` or the option's own ``metavar``; nothing for a flag."""
    if option.is_flag or option.count:
        return None
    if option.metavar is not None:
        return option.metavar
    label = option.display_type(ctx).strip("<>").removeprefix("list[").removesuffix("]").removesuffix(" range")
    metavar = f"[{label}]" if "|" in label else PLAIN_TYPES.get(label, label.upper())
    return metavar + ("..." if option.nargs != 1 else "")


def use_plain_metavars() -> None:
    """Render the help of every Typer command in this process in the plain style (idempotent)."""
    TyperArgument._usage_display_name = _argument_usage
    TyperArgument.display_name_raw = property(_argument_name)
    TyperArgument.display_type_rich = lambda self, ctx: None
    TyperOption.display_type_rich = _option_type
