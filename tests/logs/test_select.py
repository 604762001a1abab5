"""Filter queries (extension-condition rules; a missing key matches, as in DLBS's logparser,
except under the strict policy of DLBS's summary builder ``--query``) and projection."""
from __future__ import annotations

from typing import Any

import pytest

from dlbs.errors import DLBSError
from dlbs.logs.select import matches, parse_key_list, parse_query, project

RECORD: dict[str, Any] = {"exp.model": "resnet50", "exp.replica_batch": 32, "exp.docker": False,
                          "exp.gpus": "0,1", "exp.note": "", "results.time": 12.5}


@pytest.mark.parametrize("query, expected", [
    pytest.param({}, True, id="empty-selects-all"),
    pytest.param({"exp.model": "resnet50"}, True, id="string-equal"),
    pytest.param({"exp.model": "resnet"}, True, id="regex-is-re-match-prefix"),
    pytest.param({"exp.model": "net50"}, False, id="re-match-anchored-at-start"),
    pytest.param({"exp.model": "resnet(18|50)$"}, True, id="regex"),
    pytest.param({"exp.model": ["alexnet", "resnet50"]}, True, id="list-any"),
    pytest.param({"exp.model": ["alexnet", "vgg16"]}, False, id="list-none"),
    pytest.param({"exp.replica_batch": 32}, True, id="int-equal"),
    pytest.param({"exp.replica_batch": 64}, False, id="int-differs"),
    pytest.param({"exp.replica_batch": [16, 32]}, True, id="int-list"),
    pytest.param({"exp.replica_batch": "3"}, True, id="regex-on-json-text-of-number"),
    pytest.param({"exp.docker": False}, True, id="bool-equal"),
    pytest.param({"exp.docker": 0}, True, id="scalar-compares-with-eq-like-conditions"),
    pytest.param({"exp.note": ""}, True, id="empty-string-matches-empty"),
    pytest.param({"exp.model": ""}, False, id="empty-string-matches-only-empty"),
    pytest.param({"exp.missing": ".*"}, True, id="missing-key-matches-relaxed-as-dlbs"),
    pytest.param({"exp.missing": "x", "exp.model": "vgg"}, False, id="relaxed-still-tests-present"),
    pytest.param({"exp.model": "resnet50", "exp.replica_batch": 64}, False, id="and-over-keys"),
])
def test_filter_query_matching_rules(query: dict[str, Any], expected: bool) -> None:
    assert matches(query, RECORD) is expected


@pytest.mark.parametrize("query, relaxed, strict", [
    pytest.param({"exp.missing": ".*"}, True, False, id="missing-key"),
    pytest.param({"exp.missing": ""}, True, False, id="missing-key-empty-string"),
    pytest.param({"exp.model": "resnet50"}, True, True, id="present-key-matching"),
    pytest.param({"exp.model": "vgg", "exp.missing": 1}, False, False, id="present-key-failing"),
])
def test_missing_key_policy_is_dlbs_match(query: dict[str, Any], relaxed: bool,
                                          strict: bool) -> None:
    """DLBS's ``DictUtils.match``: its logparser's --filter_query is 'relaxed' (a record
    without the key is kept), its summary builder's --query 'strict' (left out)."""
    assert matches(query, RECORD) is relaxed
    assert matches(query, RECORD, policy="relaxed") is relaxed
    assert matches(query, RECORD, policy="strict") is strict


@pytest.mark.parametrize("text, message", [
    pytest.param("{exp.model: 1}", "--filter_query is not valid JSON (Expecting property name "
                 "enclosed in double quotes at column 2)", id="bad-json"),
    pytest.param("[1, 2]", "--filter_query must be a JSON object of key: condition",
                 id="not-object"),
    pytest.param('{"exp.model": "res("}', "--filter_query: 'exp.model': bad regular expression "
                 "'res(': missing ), unterminated subpattern at position 3", id="bad-regex"),
    pytest.param('{"exp.model": "a{99999999999}"}', "--filter_query: 'exp.model': bad regular "
                 "expression 'a{99999999999}': the repetition number is too large",
                 id="regex-repetition-too-large"),
    pytest.param('{"exp.model": {"a": 1}}', "--filter_query: condition of 'exp.model' must be a "
                 "value or a list of values, not {\"a\": 1}", id="object-condition"),
])
def test_bad_query_is_a_one_line_error(text: str, message: str) -> None:
    with pytest.raises(DLBSError) as err:
        parse_query(text)
    assert str(err.value).startswith(message) and err.value.exit_code == 1


def test_project_keeps_exact_keys_and_globs() -> None:
    keys = parse_key_list("exp.model, results.*")
    assert project(RECORD, keys) == {"exp.model": "resnet50", "results.time": 12.5}
    assert project(RECORD, []) == RECORD


def test_list_items_match_by_equality_so_they_need_not_be_regular_expressions() -> None:
    query = parse_query('{"exp.model": ["res(", "vgg16"]}')
    assert matches(query, {"exp.model": "res("})
    assert not matches(query, {"exp.model": "resnet50"})
