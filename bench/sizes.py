"""The two sizes of the synthetic data set and of the work measured on it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    users: int
    # Users 0..batch_users-1 also hold 10 pending and 10 current profiles of
    # the `bench_batch` extractor: the group of the batch upgrade.
    batch_users: int
    agent_playbooks: int
    rerun_users: int
    one_user_upgrades: int
    publish_sequential: int
    publish_per_client: int
    memory_seconds: float
    page_samples: int = 30
    page_warmup: int = 3

    requests_per_user: int = 5
    turns_per_request: int = 4
    profiles_per_user: int = 10
    playbooks_per_user: int = 2

    @property
    def interactions(self) -> int:
        return self.users * self.requests_per_user * self.turns_per_request

    @property
    def profiles(self) -> int:
        return self.users * self.profiles_per_user + self.batch_users * 20

    @property
    def user_playbooks(self) -> int:
        return self.users * self.playbooks_per_user


FULL = Size(
    name="full",
    users=100_000,
    batch_users=1_000,
    agent_playbooks=20_000,
    rerun_users=1_000,
    one_user_upgrades=40,
    publish_sequential=300,
    publish_per_client=250,
    memory_seconds=60.0,
)
SMALL = Size(
    name="small",
    users=1_000,
    batch_users=10,
    agent_playbooks=200,
    rerun_users=100,
    one_user_upgrades=30,
    publish_sequential=100,
    publish_per_client=50,
    memory_seconds=15.0,
)
SIZES = {size.name: size for size in (FULL, SMALL)}
