"""Running actions at the same moment, each on its own database connection."""

import threading

from django.db import connection

from reflexio_admin.review import DecisionConflict


def at_once(*actions):
    """Run each action in its own thread and connection, released together.

    Returns ("ok", result) or ("refused", DecisionConflict) per action; any
    other error fails the test.
    """
    barrier = threading.Barrier(len(actions))
    outcomes: list = [None] * len(actions)
    errors: list = []

    def run(index):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = ("ok", actions[index]())
        except DecisionConflict as exc:
            outcomes[index] = ("refused", exc)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return outcomes
