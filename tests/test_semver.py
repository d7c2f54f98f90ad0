"""Semver requirements for skills: examples from npm's and PEP 440's grammars, then properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version

from skillexec.skills.semver import best_match, matches


@pytest.mark.parametrize(
    ("version", "requirement", "expected"),
    [
        # caret: compatible with the leftmost non-zero component
        ("1.2.0", "^1.2", True), ("1.9.9", "^1.2", True), ("2.0.0", "^1.2", False),
        ("1.1.9", "^1.2", False), ("0.2.5", "^0.2", True), ("0.3.0", "^0.2", False),
        ("0.0.3", "^0.0.3", True), ("0.0.4", "^0.0.3", False), ("0.9.0", "^0", True),
        # tilde: patch-level changes
        ("1.4.0", "~1.4.0", True), ("1.4.9", "~1.4.0", True), ("1.5.0", "~1.4.0", False),
        ("1.9.0", "~1", True), ("2.0.0", "~1", False),
        # PEP 440 compatible release
        ("1.4.5", "~=1.4.2", True), ("1.5.0", "~=1.4.2", False), ("1.9", "~=1.4", True),
        ("2.0", "~=1.4", False),
        # comparisons, exact versions
        ("1.0.0", ">=1.0.0", True), ("0.9.9", ">=1.0.0", False), ("1.2.3", "==1.2.3", True),
        ("1.2.4", "==1.2.3", False), ("1.2.3", "1.2.3", True), ("1.2.4", "1.2.3", False),
        ("1.2.3", "=1.2.3", True), ("1.2.4", "!=1.2.3", True), ("1.2.3", "!=1.2.3", False),
        ("1.0.1", ">1.0", True), ("1.0.0", ">1.0", False), ("1.0.0", "<=1.0", True),
        # anything
        ("5.0.0", "*", True), ("5.0.0", "", True), ("5.0.0", "latest", True),
        ("0.0.1", "x", True),
        # wildcards and partial versions
        ("1.9.0", "1.x", True), ("2.0.0", "1.x", False), ("1.2.7", "1.2.x", True),
        ("1.3.0", "1.2.*", False), ("1.2.9", "1.2", True), ("1.3.0", "1.2", False),
        ("1.0.0", "1", True), ("2.0.0", ">1.x", True), ("1.9.9", ">1.x", False),
        ("1.9.9", "<=1.x", True), ("2.0.0", "<=1.x", False), ("1.2.0", "==1.2.*", True),
        # ranges, with spaces or commas, and with the operator written apart
        ("1.5.0", ">=1.0 <2.0", True), ("2.0.0", ">=1.0 <2.0", False),
        ("1.5.0", ">=1.0,<2.0", True), ("2.0.0", ">=1.0, <2.0", False),
        ("1.5.0", ">= 1.0 < 2.0", True), ("1.5.0", "1.0 - 2.0", True),
        ("2.0.9", "1.0 - 2.0", True), ("2.1.0", "1.0 - 2.0", False),
        ("2.0.0", "1.0.0 - 2.0.0", True), ("2.0.1", "1.0.0 - 2.0.0", False),
        # alternatives
        ("3.1.0", "^1 || ^3", True), ("2.1.0", "^1 || ^3", False),
        ("1.0.0", "<1.0 || >=1.0 <1.1", True),
        # lenient versions
        ("v1.2.0", "^1.2", True), ("1", "^1.0.0", True), ("1.2", "~1.2.0", True),
        ("V2.0", ">=v1.0", True),
        # pre-releases match only requirements naming a pre-release of the same version
        ("2.0.0-beta.1", "^1.0", False), ("2.0.0-beta.1", "*", False),
        ("2.0.0-beta.2", "^2.0.0-beta.1", True), ("2.0.1-rc.1", "^2.0.0-beta.1", False),
        ("2.0.0", "^2.0.0-beta.1", True), ("1.0.0-rc.1", "1.0.0-rc.1", True),
        ("1.0.0rc1", ">=1.0.0-alpha <1.0.0", True),
    ],
)
def test_requirement_examples(version: str, requirement: str, expected: bool) -> None:
    assert matches(version, requirement) is expected


@pytest.mark.parametrize(
    "requirement",
    [">=", "^", "abc", "1.0 ||", "|| 1.0", ">=1.0<2.0", "!=1.x", "~=1", "1.x.3", "^1.2.3.x",
     ">=1.0 >= ", "1.0 - ", "=>1.0"],
)
def test_malformed_requirement_is_a_clear_value_error(requirement: str) -> None:
    with pytest.raises(ValueError, match="invalid version requirement"):
        matches("1.0.0", requirement)


def test_malformed_version_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match=r"invalid version 'one\.two'"):
        matches("one.two", "*")


def test_best_match_returns_the_highest_matching_version_as_written() -> None:
    versions = ["1.0.0", "v1.4.2", "1.10.0", "2.0.0", "2.1.0-rc.1"]
    assert best_match(versions, "^1.0") == "1.10.0"
    assert best_match(versions, "~1.4") == "v1.4.2"
    assert best_match(versions, "*") == "2.0.0"
    assert best_match(versions, ">=2.1.0-rc.0") == "2.1.0-rc.1"
    assert best_match(versions, "^3") is None
    assert best_match([], "*") is None


# -- properties --------------------------------------------------------------------------

parts = st.integers(min_value=0, max_value=30)
triples = st.tuples(parts, parts, parts)


def text(v: tuple[int, int, int]) -> str:
    return ".".join(map(str, v))


@given(triples)
def test_every_version_matches_itself_and_anything(v: tuple[int, int, int]) -> None:
    assert matches(text(v), text(v))
    assert matches(text(v), f"=={text(v)}")
    assert matches(text(v), "*")
    assert matches(text(v), "")


@given(triples, triples)
def test_caret_keeps_the_leftmost_nonzero_component(
    v: tuple[int, int, int], r: tuple[int, int, int]
) -> None:
    at_least = v >= r
    if r[0] > 0:
        same = v[0] == r[0]
    elif r[1] > 0:
        same = v[:2] == r[:2]
    else:
        same = v == r
    assert matches(text(v), f"^{text(r)}") is (at_least and same)


@given(triples, triples)
def test_tilde_keeps_major_and_minor(v: tuple[int, int, int], r: tuple[int, int, int]) -> None:
    assert matches(text(v), f"~{text(r)}") is (v >= r and v[:2] == r[:2])


@given(triples, triples)
def test_a_version_is_either_at_least_or_below(
    v: tuple[int, int, int], r: tuple[int, int, int]
) -> None:
    assert matches(text(v), f">={text(r)}") is not matches(text(v), f"<{text(r)}")
    assert matches(text(v), f">{text(r)}") is not matches(text(v), f"<={text(r)}")


@given(triples, triples, triples)
def test_comma_and_space_both_mean_and(
    v: tuple[int, int, int], lo: tuple[int, int, int], hi: tuple[int, int, int]
) -> None:
    spaced = matches(text(v), f">={text(lo)} <{text(hi)}")
    assert spaced is matches(text(v), f">={text(lo)},<{text(hi)}")
    assert spaced is (lo <= v < hi)


@given(triples, triples, triples)
def test_alternatives_are_an_or(
    v: tuple[int, int, int], a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    either = matches(text(v), f"^{text(a)}") or matches(text(v), f"~{text(b)}")
    assert matches(text(v), f"^{text(a)} || ~{text(b)}") is either


@given(st.lists(triples, max_size=12), triples)
def test_best_match_is_the_maximum_of_the_matches(
    versions: list[tuple[int, int, int]], r: tuple[int, int, int]
) -> None:
    requirement = f"^{text(r)}"
    written = [text(v) for v in versions]
    found = best_match(written, requirement)
    matching = [v for v in written if matches(v, requirement)]
    if not matching:
        assert found is None
    else:
        assert found is not None
        assert Version(found) == max(Version(v) for v in matching)


@given(st.integers(0, 30), st.integers(0, 30), triples)
def test_wildcard_is_the_range_it_leaves_open(
    major: int, minor: int, v: tuple[int, int, int]
) -> None:
    assert matches(text(v), f"{major}.x") is (v[0] == major)
    assert matches(text(v), f"{major}.{minor}.*") is (v[:2] == (major, minor))


# -- pre-releases PEP 440 has no word for ----------------------------------------------------

def test_a_semver_pre_release_with_any_words_is_a_version() -> None:
    """secondsky/claude-skills' turborepo skill says ``version: 2.8.3-canary.4``: valid
    semantic versioning, refused as "malformed" (packaging knows only a/b/rc/dev/post)."""
    from skillexec.skills.semver import parse_version
    assert parse_version("2.8.3-canary.4").is_prerelease
    assert parse_version("2.8.2") < parse_version("2.8.3-canary.4") < parse_version("2.8.3")
    assert parse_version("2.8.3-canary.4") < parse_version("2.8.3-canary.10")
    assert parse_version("1.0.0-canary.4") != parse_version("1.0.0-next.4")
    assert matches("2.8.3-canary.4", "^2.8.3-canary.1")
    assert not matches("2.8.3-canary.4", "^2.0")  # npm: no pre-release from a plain range
    assert best_match(["2.8.2", "2.8.3-canary.4"], "*") == "2.8.2"
    with pytest.raises(ValueError, match=r"invalid version '2\.8\.3-canary\.\.4'"):
        parse_version("2.8.3-canary..4")


words = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True).filter(
    lambda w: w not in ("a", "b", "c", "rc", "alpha", "beta", "pre", "preview", "dev",
                        "post", "r", "rev", "final"))


@given(triples, words, st.integers(0, 50), st.integers(0, 50))
def test_semver_pre_releases_order_by_number_and_stay_below_their_release(
        v: tuple[int, int, int], word: str, n: int, m: int) -> None:
    from skillexec.skills.semver import parse_version
    a, b = parse_version(f"{text(v)}-{word}.{n}"), parse_version(f"{text(v)}-{word}.{m}")
    assert a.is_prerelease and a < parse_version(text(v))
    assert (a < b) == (n < m) and (a == b) == (n == m)
