"""A bad model file fails with the file, the line, the field path and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.engine import load_model_file, parse_model_text
from leadscore.errors import ModelFileError
from tests.conftest import DEFAULT_MODEL

GOOD = DEFAULT_MODEL.read_text(encoding="utf-8")


def problems(text: str) -> list[str]:
    with pytest.raises(ModelFileError) as caught:
        parse_model_text(text, "models/bad.yaml")
    return [p.describe(caught.value.file) for p in caught.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_default_model_loads() -> None:
    model_file = load_model_file(DEFAULT_MODEL)
    assert list(model_file.models) == ["lead"]


def test_unknown_operator_names_line_field_and_allowed_values() -> None:
    bad = GOOD.replace("field: department, operator: in", "field: department, operator: one_of")
    [message] = problems(bad)
    assert message.startswith(f"models/bad.yaml:{line_of(bad, 'operator: one_of')}: models.lead.fit[2].operator:")
    assert "'equals'" in message
    assert "'between'" in message


def test_misspelt_key_lists_allowed_keys() -> None:
    bad = GOOD.replace("half_life_days: 30", "half_live_days: 30")
    [message] = problems(bad)
    assert f":{line_of(bad, 'half_live_days')}: models.lead.decay.half_live_days: unknown key" in message
    assert "allowed: half_life_days, window_days, reset_after_days" in message


def test_unknown_profile_field_lists_the_vocabulary() -> None:
    bad = GOOD.replace("field: industry", "field: sector")
    [message] = problems(bad)
    assert "models.lead.fit[4].field: unknown field 'sector'; declare it under fields:" in message
    assert "company_size" in message


def test_between_needs_two_ordered_numbers() -> None:
    bad = GOOD.replace("value: [50, 1000]", "value: [1000, 50]")
    [message] = problems(bad)
    assert f":{line_of(bad, '[1000, 50]')}: models.lead.fit[3]:" in message
    assert "low <= high" in message


def test_bad_regex_is_reported() -> None:
    bad = GOOD.replace(r"'\bstudent\b'", "'(student'")
    [message] = problems(bad)
    assert "not a valid regular expression" in message


def test_bands_must_rise() -> None:
    bad = GOOD.replace("{name: MQL, min: 50", "{name: MQL, min: 10")
    [message] = problems(bad)
    assert "models.lead:" in message
    assert "mins must rise" in message


def test_fast_track_band_must_exist() -> None:
    bad = GOOD.replace("band: MQL\n", "band: Hot\n")
    [message] = problems(bad)
    assert "fast_track.band 'Hot' is not a band; allowed: New, Warm, MQL, SQL" in message


def test_missing_required_section() -> None:
    start = GOOD.index("    grades:")
    end = GOOD.index("    bands:")
    [message] = problems(GOOD[:start] + GOOD[end:])
    assert "models.lead.grades: required but missing" in message


def test_every_problem_is_listed_not_only_the_first() -> None:
    bad = GOOD.replace("points: 15, reason: C-level/VP", "points: lots, reason: C-level/VP").replace(
        "exit_margin: 3", "exit_margin: -1"
    )
    found = problems(bad)
    assert len(found) == 2
    assert any("fit[0].points" in p for p in found)
    assert any("exit_margin" in p for p in found)


def test_yaml_syntax_error_names_the_line() -> None:
    bad = GOOD.replace("    exit_margin: 3", "    exit_margin: [3")
    [message] = problems(bad)
    assert message.startswith("models/bad.yaml:")
    assert "(syntax): not valid YAML" in message


def test_two_models_cannot_write_the_same_property() -> None:
    second = """
  loyalty:
    writes: {score: leadscore_score, grade: loyalty_grade, band: loyalty_band}
    grades: [{name: A, min_fit: 1}, {name: B}]
    bands: [{name: Low, min: 0}, {name: High, min: 50}]
"""
    [message] = problems(GOOD + second)
    assert "both write 'leadscore_score'" in message


def test_several_named_models_in_one_file() -> None:
    second = """
  loyalty:
    description: customer loyalty
    writes: {score: loyalty_score, grade: loyalty_grade, band: loyalty_band}
    behaviour:
      - {id: login, action: product_login, points: 2, cap: 40, reason: product login}
    grades: [{name: A, min_fit: 1}, {name: B}]
    bands: [{name: Low, min: 0}, {name: High, min: 50}]
"""
    model_file = parse_model_text(GOOD + second)
    assert list(model_file.models) == ["lead", "loyalty"]
    assert model_file.models["loyalty"].writes.score == "loyalty_score"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="file not found"):
        load_model_file(tmp_path / "nope.yaml")


def test_not_a_mapping() -> None:
    [message] = problems("- just\n- a list\n")
    assert "expected a mapping" in message


LANGUAGE = (Path(__file__).parent / "models" / "language.yaml").read_text(encoding="utf-8")


def test_a_field_no_section_declares_is_named_with_its_line() -> None:
    bad = LANGUAGE.replace("{field: department, operator: in", "{field: team, operator: in")
    [message] = problems(bad)
    assert message.startswith(f"models/bad.yaml:{line_of(bad, 'field: team')}: models.lead.fit[1].all[1].field:")
    assert "unknown field 'team'; declare it under fields: with a type" in message


def test_a_count_without_its_window_is_named() -> None:
    bad = LANGUAGE.replace("count: {at_least: 3, within_days: 14}", "count: {at_least: 3}")
    [message] = problems(bad)
    assert f":{line_of(bad, 'count: {at_least: 3}')}: models.lead.behaviour[0].count.within_days: required" in message


def test_a_group_naming_an_unknown_rule_is_named() -> None:
    bad = LANGUAGE.replace("rules: [email_open, email_click, unsubscribe]", "rules: [email_open, email_clicks]")
    [message] = problems(bad)
    assert f":{line_of(bad, 'email_clicks')}: models.lead.groups.email.rules[1]:" in message
    assert "unknown rule 'email_clicks'" in message


def test_a_rule_in_two_groups_is_named() -> None:
    bad = LANGUAGE.replace("    limits:", "      opens: {rules: [email_open], max: 5}\n    limits:")
    [message] = problems(bad)
    assert "models.lead.groups.opens.rules[0]: rule 'email_open' is in groups 'email' and 'opens'" in message


def test_an_operator_that_cannot_test_the_fields_type_is_named() -> None:
    bad = LANGUAGE.replace(
        "field: trial_started, operator: within_days", "field: product_interest, operator: within_days"
    )
    [message] = problems(bad)
    assert "models.lead.fit[2].operator: 'within_days' cannot test 'product_interest', a text field" in message


def test_a_compound_rule_with_two_forms_is_refused() -> None:
    bad = LANGUAGE.replace(
        "      - id: enterprise_it\n", "      - id: enterprise_it\n        field: seats\n        operator: exists\n"
    )
    [message] = problems(bad)
    assert "models.lead.fit[1]: give either field/operator/value or all:, not both" in message


def test_every_cross_section_problem_is_listed_at_once() -> None:
    bad = LANGUAGE.replace("{field: department, operator: in", "{field: team, operator: in").replace(
        "rules: [email_open, email_click, unsubscribe]", "rules: [email_open, nope]"
    )
    assert len(problems(bad)) == 2


def test_an_unquoted_yes_in_a_value_is_warned_about_with_its_line() -> None:
    from leadscore.engine.loader import model_warnings

    text = LANGUAGE.replace("value: [software, saas]", "value: [software, yes]")
    [warning] = model_warnings(text)
    assert warning.line == line_of(text, "value: [software, yes]")
    assert warning.field == "models.lead.fit[4].any[0].value[1]"
    assert "unquoted yes is read as the boolean True" in warning.message
    assert model_warnings(LANGUAGE.replace("value: [software, saas]", "value: [software, 'yes']")) == []


def test_nan_or_infinite_points_are_refused_with_their_line() -> None:
    bad = GOOD.replace("points: 15, cap: 45, reason: webinar}", "points: .nan, cap: 45, reason: webinar}")
    [message] = problems(bad)
    assert f":{line_of(bad, '.nan')}: models.lead.behaviour[" in message
    assert "finite number" in message


def test_a_key_given_twice_is_refused_rather_than_silently_replaced() -> None:
    bad = GOOD.replace("    exit_margin: 3", "    exit_margin: 3\n    exit_margin: 5")
    [message] = problems(bad)
    assert f":{line_of(bad, 'exit_margin: 5')}: models.lead.exit_margin: key given twice" in message
