"""python -m partner_consumer run | report-attendance | show"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import asdict
from datetime import date, timedelta

from partner_consumer.app import create_app, report_attendance, week_of
from partner_consumer.config import Config
from partner_consumer.roster import Roster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="partner_consumer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="read the placement stream into the roster until stopped")
    attendance = commands.add_parser(
        "report-attendance", help="report one week's attendance for every started placement"
    )
    attendance.add_argument("--hours", type=float, required=True, help="hours attended")
    attendance.add_argument(
        "--expected", type=float, help="hours expected (default: the placement's hours per week)"
    )
    attendance.add_argument(
        "--week",
        type=date.fromisoformat,
        help="any day of the week to report, YYYY-MM-DD (default: last week)",
    )
    attendance.add_argument("--placement", help="only this placement")
    commands.add_parser("show", help="print the roster as JSON lines")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = Config.from_env()

    if args.command == "run":
        asyncio.run(create_app(config).run())
    elif args.command == "report-attendance":
        day = args.week or date.today() - timedelta(days=7)
        for line in asyncio.run(
            report_attendance(
                config,
                attended_hours=args.hours,
                week=week_of(day),
                expected_hours=args.expected,
                placement_id=args.placement,
            )
        ):
            print(line)
    else:
        roster = Roster(config.roster_db)
        try:
            for placement in roster.placements():
                print(json.dumps(asdict(placement)))
        finally:
            roster.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
