"""``chrono busday is|adjust|add|count`` and ``chrono holidays``: business days on calendars."""

from __future__ import annotations

import argparse

from chrono.date.v1 import date_service_pb2 as pb
from client import DateClient
from client.cli.commands.dates import _date
from client.cli.context import Context, print_json
from client.cli.errors import EXIT_OK
from client.cli.options import Subparsers
from client.cli.values import choice, iso_date, signed

CONVENTIONS = {
    "following": pb.BUSINESS_DAY_CONVENTION_FOLLOWING,
    "modified-following": pb.BUSINESS_DAY_CONVENTION_MODIFIED_FOLLOWING,
    "preceding": pb.BUSINESS_DAY_CONVENTION_PRECEDING,
    "modified-preceding": pb.BUSINESS_DAY_CONVENTION_MODIFIED_PRECEDING,
}

_CALENDAR_HELP = "US, US-CA, XNYS, ... or a custom calendar's id"


def register(subparsers: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add ``busday`` (with its four actions) and ``holidays`` to ``subparsers``."""
    busday = subparsers.add_parser(
        "busday", parents=[common], help="business days on a holiday calendar"
    )
    actions = busday.add_subparsers(dest="action", required=True, metavar="ACTION")
    is_ = actions.add_parser("is", parents=[common], help="is DATE a business day?")
    is_.add_argument("calendar", metavar="CALENDAR", help=_CALENDAR_HELP)
    is_.add_argument("day", metavar="DATE", type=iso_date)
    is_.set_defaults(handler=run_is)
    adjust = actions.add_parser(
        "adjust", parents=[common], help="move DATE to a business day by a convention"
    )
    adjust.add_argument("calendar", metavar="CALENDAR", help=_CALENDAR_HELP)
    adjust.add_argument("day", metavar="DATE", type=iso_date)
    adjust.add_argument(
        "--convention",
        type=choice(CONVENTIONS),
        default=pb.BUSINESS_DAY_CONVENTION_FOLLOWING,
        metavar="RULE",
        help="following (default), modified-following, preceding, modified-preceding",
    )
    adjust.set_defaults(handler=run_adjust)
    add = actions.add_parser("add", parents=[common], help="DATE plus N business days")
    add.add_argument("calendar", metavar="CALENDAR", help=_CALENDAR_HELP)
    add.add_argument("day", metavar="DATE", type=iso_date)
    add.add_argument("days", metavar="N", type=signed, help="negative to go back")
    add.set_defaults(handler=run_add)
    count = actions.add_parser(
        "count", parents=[common], help="business days from START (counted) to END (not)"
    )
    count.add_argument("calendar", metavar="CALENDAR", help=_CALENDAR_HELP)
    count.add_argument("start", metavar="START", type=iso_date)
    count.add_argument("end", metavar="END", type=iso_date)
    count.set_defaults(handler=run_count)
    holidays = subparsers.add_parser(
        "holidays", parents=[common], help="a calendar's holidays between two dates"
    )
    holidays.add_argument("calendar", metavar="CALENDAR", help=_CALENDAR_HELP)
    holidays.add_argument("start", metavar="START", type=iso_date)
    holidays.add_argument("end", metavar="END", type=iso_date, help="included")
    holidays.set_defaults(handler=run_holidays)


def _label(holiday: pb.Holiday) -> str:
    # The built-in calendars' observed days already say so: "Independence Day (observed)".
    marked = not holiday.observed or "(observed)" in holiday.name.lower()
    return holiday.name if marked else f"{holiday.name} (observed)"


def _holiday(holiday: pb.Holiday) -> str:
    return f"{_date(holiday.date)}  {_label(holiday)}"


def run_is(context: Context) -> int:
    """Print whether the date is a business day, and why not."""
    args = context.args
    with context.connect(DateClient, context.date) as client:
        answer = client.is_business_day(args.calendar, args.day)
    if args.json:
        print_json(answer)
        return EXIT_OK
    if answer.business_day:
        print(f"{args.day} is a business day", flush=True)
        return EXIT_OK
    why = [_label(holiday) for holiday in answer.holidays]
    if answer.weekend:
        why.insert(0, "weekend")
    print(f"{args.day} is not a business day: {', '.join(why)}", flush=True)
    return EXIT_OK


def run_adjust(context: Context) -> int:
    """Print the adjusted date."""
    args = context.args
    with context.connect(DateClient, context.date) as client:
        answer = client.adjust_to_business_day(args.calendar, args.day, args.convention)
    context.print_answer(answer, _date(answer.date))
    return EXIT_OK


def run_add(context: Context) -> int:
    """Print the business day reached."""
    args = context.args
    with context.connect(DateClient, context.date) as client:
        answer = client.add_business_days(args.calendar, args.day, args.days)
    context.print_answer(answer, _date(answer.date))
    return EXIT_OK


def run_count(context: Context) -> int:
    """Print the number of business days."""
    args = context.args
    with context.connect(DateClient, context.date) as client:
        answer = client.count_business_days(args.calendar, args.start, args.end)
    context.print_answer(answer, str(answer.business_days))
    return EXIT_OK


def run_holidays(context: Context) -> int:
    """Print one line per holiday (every page)."""
    args = context.args
    everything = pb.ListHolidaysResponse()
    with context.connect(DateClient, context.date) as client:
        token = ""
        while True:
            page = client.list_holidays(args.calendar, args.start, args.end, page_token=token)
            everything.holidays.extend(page.holidays)
            token = page.next_page_token
            if not token:
                break
    if args.json:
        print_json(everything)
    else:
        print("\n".join(_holiday(holiday) for holiday in everything.holidays), flush=True)
    return EXIT_OK
