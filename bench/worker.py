"""`python -m bench.worker QUEUE`: `manage.py rqworker QUEUE`, then a report.

The worker is Django-rq's own `rqworker` command, run in this process. When it
stops, the peak resident memory of the largest child it waited for (rq forks
a work horse per job) is written as JSON to $BENCH_RUSAGE_FILE.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reflexio_admin.settings")
    import django
    from django.core.management import call_command

    django.setup()
    try:
        call_command("rqworker", *argv)
    finally:
        report = os.environ.get("BENCH_RUSAGE_FILE")
        if report:
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            own = resource.getrusage(resource.RUSAGE_SELF)
            with open(report, "w") as handle:
                json.dump(
                    {
                        "children_maxrss_kb": children.ru_maxrss,
                        "self_maxrss_kb": own.ru_maxrss,
                    },
                    handle,
                )


if __name__ == "__main__":
    main(sys.argv[1:])
