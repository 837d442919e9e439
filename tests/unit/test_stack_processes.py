"""The local stack knows the processes it started: a pid file names the process by its pid and
start time, and a start time that the clock's adjustments have moved a little is still that
process (else `stack down` would leave it running), while a reused pid is not."""

from scripts.stack.processes import _same_start


def test_a_start_time_a_little_off_is_the_same_process_and_a_reused_pid_is_not() -> None:
    assert _same_start("1796238734.21", "1796238734.20")
    assert _same_start("1796238734.90", "1796238734.20")
    assert not _same_start("1796242000.00", "1796238734.20")  # the pid, reused an hour later
    assert not _same_start(None, "1796238734.20")  # gone
    assert not _same_start("1796238734.20", "garbage")
