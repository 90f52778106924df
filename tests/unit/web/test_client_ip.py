"""Which address a request comes from: X-Forwarded-For believed only through trusted hops."""

from __future__ import annotations

import pytest

from forkable.web.client_ip import (
    TrustedProxies,
    client_address,
    forwarded_scheme,
    parse_address,
    parse_network,
)

LOOPBACK = TrustedProxies(["127.0.0.1"])
PROXIES = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48", "::1"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("unknown", None),
        ("_hidden", None),
        ("", None),
        ("[2001:db8::1", None),
        ("evil.example", None),
        ("999.1.1.1", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    parsed = parse_address(text)
    assert (str(parsed) if parsed else None) == expected


def test_untrusted_peers_are_their_own_client_whatever_they_claim() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], LOOPBACK) == "203.0.113.9"
    assert client_address("203.0.113.9", [], LOOPBACK) == "203.0.113.9"
    assert client_address("::ffff:203.0.113.9", ["1.1.1.1"], LOOPBACK) == "203.0.113.9"


def test_a_trusted_peer_vouches_for_the_hop_it_appended() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1"], LOOPBACK) == "198.51.100.1"
    assert client_address("127.0.0.1", [], LOOPBACK) == "127.0.0.1"
    assert client_address("127.0.0.1", ["198.51.100.1:5555"], LOOPBACK) == "198.51.100.1"


def test_spoofed_hops_left_of_the_client_are_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended what it saw.
    assert client_address("127.0.0.1", ["1.2.3.4, 198.51.100.1"], LOOPBACK) == "198.51.100.1"
    # Several headers count as one list, in order.
    assert client_address("127.0.0.1", ["1.2.3.4", "198.51.100.1"], LOOPBACK) == "198.51.100.1"
    # A client pretending to be a trusted proxy gains nothing: only the rightmost hop counts.
    assert client_address("127.0.0.1", ["127.0.0.1, 198.51.100.1"], LOOPBACK) == "198.51.100.1"


def test_chains_of_trusted_proxies_are_walked_from_the_right() -> None:
    chain = ["1.2.3.4, 198.51.100.1, 10.1.2.3, 10.9.9.9"]
    assert client_address("127.0.0.1", chain, PROXIES) == "198.51.100.1"
    assert client_address("10.0.0.5", chain, PROXIES) == "198.51.100.1"
    # Only loopback trusted: 10.9.9.9 (the hop loopback got it from) is the client.
    assert client_address("127.0.0.1", chain, LOOPBACK) == "10.9.9.9"


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    assert client_address("10.0.0.5", ["10.2.2.2, 10.3.3.3"], PROXIES) == "10.2.2.2"


def test_garbage_in_the_chain_ends_at_the_nearest_trusted_hop() -> None:
    assert client_address("10.0.0.5", ["198.51.100.1, unknown"], PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", ["198.51.100.1, 10.4.4.4, "], PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", ["198.51.100.1, , 10.4.4.4"], PROXIES) == "10.4.4.4"


def test_ipv6_peers_and_hops() -> None:
    assert client_address("::1", ["2001:db8:1::7"], PROXIES) == "2001:db8:1::7"
    assert (
        client_address("2001:db8:ffff:1::2", ["[2001:db8:2::9]:443, 2001:db8:ffff::3"], PROXIES)
        == "2001:db8:2::9"
    )
    assert client_address("2001:db8:fffe::2", ["198.51.100.1"], PROXIES) == "2001:db8:fffe::2"
    # An IPv4 peer that a dual-stack socket reports as IPv6 is trusted by its IPv4 network.
    assert client_address("::ffff:10.0.0.5", ["198.51.100.1"], PROXIES) == "198.51.100.1"


def test_peers_that_are_not_addresses_are_kept_as_they_are() -> None:
    assert client_address("testclient", ["198.51.100.1"], PROXIES) == "testclient"
    assert client_address(None, ["198.51.100.1"], PROXIES) is None


def test_networks() -> None:
    assert str(parse_network("10.0.0.0/8")) == "10.0.0.0/8"
    assert str(parse_network(" 10.1.2.3/8 ")) == "10.0.0.0/8"
    assert str(parse_network("fd00::/8")) == "fd00::/8"
    assert str(parse_network("127.0.0.1")) == "127.0.0.1/32"
    with pytest.raises(ValueError, match=r"'proxy\.internal' is not an IP address or network"):
        parse_network("proxy.internal")
    assert TrustedProxies([]).networks == ()
    assert not TrustedProxies([]).trusts(parse_address("127.0.0.1"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "scheme"),
    [
        (["https"], "https"),
        ([" HTTP "], "http"),
        (["https, http"], None),
        (["https", "http"], None),
        (["gopher"], None),
        ([], None),
    ],
)
def test_forwarded_scheme(values: list[str], scheme: str | None) -> None:
    assert forwarded_scheme(values) == scheme


def test_remembered_readings_give_the_same_answers_and_stay_bounded() -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    for _ in range(2):  # the second time from what was remembered
        assert client_address("10.0.0.2", ["203.0.113.7, 10.0.0.3"], proxies) == "203.0.113.7"
        assert client_address("::ffff:10.0.0.2", [], proxies) == "10.0.0.2"
        assert client_address("198.51.100.9", ["203.0.113.7"], proxies) == "198.51.100.9"
    # Hops come from headers: a stream of made-up ones does not grow the memory of readings.
    for number in range(3000):
        client_address("10.0.0.2", [f"203.0.{number // 256}.{number % 256}"], proxies)
    assert proxies.read_hop.cache_info().currsize <= 1024
