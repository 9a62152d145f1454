"""Pure bookkeeping of the inbound guards (checklist G7, H2), with an injected clock."""

from __future__ import annotations

from sealpost.inbound.limits import AuthFailureGuard, ConnectionLimiter


def test_per_ip_and_total_caps_and_release():
    limiter = ConnectionLimiter(max_total=3, max_per_ip=2)
    assert limiter.acquire("a") is None and limiter.acquire("a") is None
    assert limiter.acquire("a").code == 421  # per IP
    assert limiter.acquire("b") is None
    refused = limiter.acquire("c")
    assert refused.code == 421 and refused.enhanced == "4.3.2"  # total
    limiter.release("a")
    assert limiter.acquire("c") is None
    for ip in ("a", "b", "c"):
        limiter.release(ip)
    assert limiter.total == 0 and limiter.per_ip == {}


def test_rate_window_slides():
    limiter = ConnectionLimiter(max_total=100, max_per_ip=100, rate_per_ip=2)
    assert limiter.acquire("a", 0.0) is None
    assert limiter.acquire("a", 1.0) is None
    assert limiter.acquire("a", 2.0).enhanced == "4.7.0"
    assert limiter.acquire("b", 2.0) is None  # other IPs unaffected
    assert limiter.acquire("a", 61.0) is None  # the first one left the window


def test_rate_memory_is_swept_under_a_many_ip_flood():
    limiter = ConnectionLimiter(max_total=10, max_per_ip=10, rate_per_ip=5)
    for i in range(1000):
        ip = f"10.0.{i // 256}.{i % 256}"
        if limiter.acquire(ip, float(i)) is None:
            limiter.release(ip)
    assert len(limiter.recent) <= 4 * 10 + 60 + 1


def test_auth_failures_lock_out_then_expire():
    guard = AuthFailureGuard(max_failures=3, window=300)
    for t in (0.0, 1.0, 2.0):
        assert not guard.locked_out("a", t)
        guard.record_failure("a", t)
    assert guard.locked_out("a", 3.0)
    assert not guard.locked_out("b", 3.0)
    assert not guard.locked_out("a", 301.0)  # two of three failures left the window
    assert not guard.locked_out("a", 303.0)
    assert guard.failures == {}


def test_exempt_networks_skip_the_per_ip_count_and_rate_but_not_the_total():
    limiter = ConnectionLimiter.with_exempt(3, 1, 1, ["127.0.0.0/8", "::1/128"])
    for ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1"):  # one IP twice: no cap, no rate
        assert limiter.acquire(ip, 0.0) is None
    assert limiter.per_ip == {} and limiter.total == 3
    assert limiter.acquire("127.0.0.1", 0.0).enhanced == "4.3.2"  # the total still holds
    limiter.release("::1")
    limiter.release("127.0.0.1")
    assert limiter.acquire("192.0.2.1", 0.0) is None
    assert limiter.acquire("192.0.2.1", 0.0).enhanced == "4.7.0"  # not exempt: capped


def test_a_finished_session_frees_its_ip_slot_before_the_socket_is_gone():
    limiter = ConnectionLimiter(max_total=10, max_per_ip=1)
    assert limiter.acquire("a") is None
    limiter.session_over("a")  # QUIT answered, close in progress
    assert limiter.acquire("a") is None  # the client's next connection is admitted
    assert limiter.total == 2
    limiter.release("a", ip_slot=False)  # the first one is really gone
    assert limiter.total == 1 and limiter.per_ip == {"a": 1}
    limiter.release("a")
    assert limiter.total == 0 and limiter.per_ip == {}


def test_exemption_answers_are_remembered_boundedly_and_stay_right():
    limiter = ConnectionLimiter.with_exempt(10, 1, 0, ["10.0.0.0/8", "::ffff:0:0/96"])
    for _ in range(3):  # the second and third rounds answer from memory
        assert limiter.is_exempt("10.1.2.3")
        assert limiter.is_exempt("::ffff:10.9.9.9")  # IPv4-mapped counts as IPv4
        assert not limiter.is_exempt("192.0.2.1")
        assert not limiter.is_exempt("not an address")
    for i in range(10_000):  # many clients: the memory starts over instead of growing
        limiter.is_exempt(f"192.0.{i // 256 % 256}.{i % 256}")
    assert len(limiter._exempt_seen) <= 4096
    assert limiter.is_exempt("10.1.2.3") and not limiter.is_exempt("192.0.2.1")
