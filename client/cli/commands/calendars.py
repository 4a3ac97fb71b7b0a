"""``chrono calendars list|get|create|update|delete``: the calendars the date service has."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from chrono.date.v1 import date_service_pb2 as pb
from client import DateClient
from client._requests import date_message
from client.cli.context import Context, print_json
from client.cli.errors import EXIT_BAD_INPUT, EXIT_OK, CommandError
from client.cli.options import Subparsers
from client.cli.values import iso_date

TOKEN_VARIABLE = "CHRONO_TOKEN"

_DAYS = {
    name: number for number, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 1)
}


def _weekend(text: str) -> list[int]:
    days = []
    for part in text.lower().split(","):
        if part.strip()[:3] not in _DAYS:
            raise argparse.ArgumentTypeError(
                f"{part!r} is not a day of the week; use e.g. sat,sun or fri,sat"
            )
        days.append(_DAYS[part.strip()[:3]])
    return days


def _holiday(text: str) -> pb.Holiday:
    day, sep, name = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not DATE=NAME, e.g. 2026-12-24=Christmas Eve"
        )
    return pb.Holiday(date=date_message(iso_date(day)), name=name.strip())


def _fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--display-name", metavar="TEXT")
    parser.add_argument(
        "--base", metavar="CALENDAR", action="append", help="a built-in calendar to include"
    )
    parser.add_argument("--weekend", metavar="DAYS", type=_weekend, help="e.g. fri,sat")
    parser.add_argument(
        "--holiday", metavar="DATE=NAME", type=_holiday, action="append", help="an extra holiday"
    )
    parser.add_argument(
        "--remove",
        metavar="DATE",
        type=iso_date,
        action="append",
        help="a date that is a business day despite a base calendar",
    )


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``calendars`` with its five actions to ``subparsers``."""
    writes = argparse.ArgumentParser(add_help=False)
    writes.add_argument(
        "--token-file",
        metavar="FILE",
        type=Path,
        help=f"file holding the bearer token for writes (default: ${TOKEN_VARIABLE})",
    )
    calendars = subparsers.add_parser(
        "calendars", parents=[common], help="list, show and change holiday calendars"
    )
    actions = calendars.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", parents=[common], help="every calendar").set_defaults(
        handler=run_list
    )
    get = actions.add_parser("get", parents=[common], help="one calendar")
    get.add_argument("name", metavar="CALENDAR")
    get.set_defaults(handler=run_get)
    create = actions.add_parser("create", parents=[common, writes], help="a new custom calendar")
    create.add_argument("calendar_id", metavar="ID", help="lower-case letters, digits, hyphens")
    _fields(create)
    create.add_argument("--request-id", metavar="ID", help="to retry a create safely")
    create.set_defaults(handler=run_create)
    update = actions.add_parser(
        "update", parents=[common, writes], help="change the fields given of a custom calendar"
    )
    update.add_argument("name", metavar="CALENDAR")
    _fields(update)
    update.add_argument("--etag", default="", help="change only if the calendar still has it")
    update.set_defaults(handler=run_update)
    delete = actions.add_parser("delete", parents=[common, writes], help="a custom calendar")
    delete.add_argument("name", metavar="CALENDAR")
    delete.add_argument("--etag", default="", help="delete only if the calendar still has it")
    delete.set_defaults(handler=run_delete)


def _token(context: Context) -> str | None:
    path = context.args.token_file
    if path is None:
        return os.environ.get(TOKEN_VARIABLE) or None
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read --token-file {path}: {error}", EXIT_BAD_INPUT) from None


def _calendar(args: argparse.Namespace) -> tuple[pb.Calendar, list[str]]:
    calendar = pb.Calendar()
    mask = []
    if args.display_name is not None:
        calendar.display_name = args.display_name
        mask.append("display_name")
    if args.base is not None:
        calendar.base_calendars.extend(
            name if name.startswith("calendars/") else f"calendars/{name}" for name in args.base
        )
        mask.append("base_calendars")
    if args.weekend is not None:
        calendar.weekend_days.extend(args.weekend)
        mask.append("weekend_days")
    if args.holiday is not None:
        calendar.extra_holidays.extend(args.holiday)
        mask.append("extra_holidays")
    if args.remove is not None:
        calendar.removed_holidays.extend(date_message(day) for day in args.remove)
        mask.append("removed_holidays")
    return calendar, mask


def _show(context: Context, calendar: pb.Calendar) -> None:
    if context.args.json:
        print_json(calendar)
        return
    kind = f"built in, holidays {calendar.data_version}" if calendar.builtin else calendar.etag
    print(f"{calendar.name}  {calendar.display_name}  ({kind})", flush=True)


def run_list(context: Context) -> int:
    """Print one line per calendar (every page)."""
    with context.connect(DateClient, context.date) as client:
        token = ""
        while True:
            page = client.list_calendars(page_token=token)
            for calendar in page.calendars:
                _show(context, calendar)
            token = page.next_page_token
            if not token:
                return EXIT_OK


def run_get(context: Context) -> int:
    """Print the calendar (its JSON with --json)."""
    with context.connect(DateClient, context.date) as client:
        calendar = client.get_calendar(context.args.name)
    if context.args.json:
        print_json(calendar)
    else:
        print(pb_text(calendar), flush=True)
    return EXIT_OK


def pb_text(calendar: pb.Calendar) -> str:
    """A calendar on a few lines."""
    weekend = ", ".join(
        ("", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[day] for day in calendar.weekend_days
    )
    lines = [
        f"{calendar.name}: {calendar.display_name}",
        f"weekend: {weekend or '-'}",
        f"base calendars: {', '.join(calendar.base_calendars) or '-'}",
        f"extra holidays: {len(calendar.extra_holidays)}, "
        f"removed holidays: {len(calendar.removed_holidays)}",
    ]
    if calendar.etag:
        lines.append(f"etag: {calendar.etag}")
    return "\n".join(lines)


def run_create(context: Context) -> int:
    """Create the calendar and print it."""
    args = context.args
    calendar, _ = _calendar(args)
    with context.connect(DateClient, context.date, token=_token(context)) as client:
        made = client.create_calendar(args.calendar_id, calendar, request_id=args.request_id)
    _show(context, made)
    return EXIT_OK


def run_update(context: Context) -> int:
    """Change the fields given and print the calendar."""
    args = context.args
    calendar, mask = _calendar(args)
    if not mask:
        raise CommandError("nothing to change: give at least one field option", EXIT_BAD_INPUT)
    calendar.name = args.name
    calendar.etag = args.etag
    with context.connect(DateClient, context.date, token=_token(context)) as client:
        changed = client.update_calendar(calendar, mask)
    _show(context, changed)
    return EXIT_OK


def run_delete(context: Context) -> int:
    """Delete the calendar."""
    args = context.args
    with context.connect(DateClient, context.date, token=_token(context)) as client:
        client.delete_calendar(args.name, args.etag)
    if not args.json:
        print(f"deleted {args.name}", flush=True)
    return EXIT_OK
