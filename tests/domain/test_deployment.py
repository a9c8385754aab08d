from __future__ import annotations

import pytest

from deploykit.deployment import TRANSITIONS, DeploymentStatus, can_transition, check_transition, clip_log
from deploykit.errors import INVALID, Error

S = DeploymentStatus
LEGAL = [
    (S.PENDING, S.BUILDING),
    (S.PENDING, S.STARTING),
    (S.BUILDING, S.STARTING),
    (S.STARTING, S.HEALTHY),
    (S.HEALTHY, S.SUPERSEDED),
    (S.PENDING, S.CANCELLED),
    (S.BUILDING, S.FAILED),
    (S.STARTING, S.FAILED),
]


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_legal_transitions(current: DeploymentStatus, target: DeploymentStatus) -> None:
    check_transition(current, target)


ALLOWED = {(c, t) for c, targets in TRANSITIONS.items() for t in targets}
ILLEGAL = [(c, t) for c in S for t in S if (c, t) not in ALLOWED]


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_every_other_transition_is_invalid(current: DeploymentStatus, target: DeploymentStatus) -> None:
    with pytest.raises(Error) as info:
        check_transition(current, target)
    assert info.value.code == INVALID
    assert info.value.message == f"A deployment cannot go from {current.value} to {target.value}."


def test_terminal_states_have_no_way_out() -> None:
    for status in (S.SUPERSEDED, S.FAILED, S.CANCELLED):
        assert not any(can_transition(status, t) for t in S)


def test_clip_log_keeps_the_last_bytes_at_a_line_boundary() -> None:
    text = "".join(f"line {i}\n" for i in range(5000))
    clipped = clip_log(text, 1024)
    assert len(clipped.encode()) <= 1024
    assert clipped.endswith("line 4999\n")
    assert clipped.startswith("line ")
    assert clip_log("short", 1024) == "short"
