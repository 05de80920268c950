from onehost.commands import lock
from onehost.commands.lock import HeldLock, LockOwner

OWNER = LockOwner(who="ci", origin="runner (GitHub run 9)", pid=7,
                  started_at="2026-11-25T10:00:00+00:00", token="tok")


def test_acquire_is_one_mkdir_then_the_owner_file():
    assert lock.acquire("/data/deploy.lock", OWNER) == [
        "sh", "-c", "mkdir /data/deploy.lock && printf '%s\\n' \"$1\" > /data/deploy.lock/owner.json",
        "acquire-lock", OWNER.to_json()]


def test_release_removes_only_our_own_lock():
    assert lock.release("/data/deploy.lock", OWNER) == [
        "sh", "-c", "if grep -qs tok /data/deploy.lock/owner.json; then rm -rf /data/deploy.lock; fi"]


def test_owner_says_who_from_where_and_when():
    owner = LockOwner.here({"GITHUB_RUN_ID": "123"})
    assert owner.origin.endswith("(GitHub run 123)")
    assert set(lock.parse_inspect("5 " + owner.to_json()).owner) == {
        "who", "from", "pid", "started_at", "token"}


def test_inspect_output_parses_into_age_and_owner():
    held = lock.parse_inspect('75 {"who": "alice", "from": "laptop", "pid": 4, "started_at": "t"}\n')
    assert held.age_seconds == 75
    assert held.describe() == "alice from laptop (pid 4, started t, 1 min 15 s ago)"
    assert lock.parse_inspect("") is None
    # A deploy killed between mkdir and writing its owner file still leaves a lock to report.
    assert lock.parse_inspect("30 ").describe() == "? from ? (pid ?, started ?, 30 s ago)"


def test_a_lock_is_stale_after_the_ttl_or_broken_when_asked():
    assert not lock.should_break(HeldLock({}, 899), 900, forced=False)
    assert lock.should_break(HeldLock({}, 900), 900, forced=False)
    assert lock.should_break(HeldLock({}, 1), 900, forced=True)


def test_refusal_names_the_holder_and_the_ways_out():
    message = lock.refusal("/data/deploy.lock", HeldLock({"who": "alice", "from": "laptop", "pid": 4,
                                                          "started_at": "t"}, 65), 900)
    assert message == ("another deploy holds /data/deploy.lock: alice from laptop (pid 4, started t, "
                       "1 min 5 s ago). Wait for it to finish; the lock counts as stale after 15 min, "
                       "or break it now with --data break_lock=true if that deploy is gone")
