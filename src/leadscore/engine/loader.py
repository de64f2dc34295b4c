"""Reading a model file so that every fault points at a file, a line and a field.

PyYAML's node tree keeps line numbers that ``safe_load`` throws away; we keep a
map from field path to line and join it with pydantic's error locations, so a
typo in rule 7 reads ``config/scoring.yaml:48: models.lead.fit[6].operator: ...``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from leadscore.engine.model import Located, ModelFile
from leadscore.errors import ModelFileError, ModelProblem

Path_ = tuple[str | int, ...]


def load_model_file(path: str | Path) -> ModelFile:
    """Load and validate a model file, raising ModelFileError with every problem found."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFileError(file, [ModelProblem("(file)", None, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(file, [ModelProblem("(file)", None, f"cannot read: {exc}")]) from None
    return parse_model_text(text, file)


def parse_model_text(text: str, file: str = "<model>") -> ModelFile:
    """Validate model YAML given as text; ``file`` only names it in messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ModelFileError(file, [ModelProblem("(syntax)", line, f"not valid YAML: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ModelFileError(file, [ModelProblem("(syntax)", None, f"not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise ModelFileError(file, [ModelProblem("(top level)", 1, "expected a mapping with 'version' and 'models'")])
    lines = _line_index(root) if root is not None else {}
    twice = _keys_given_twice(root) if root is not None else []
    if twice:
        raise ModelFileError(file, twice)
    try:
        return ModelFile.model_validate(data)
    except ValidationError as exc:
        problems = [problem for err in exc.errors() for problem in _problems(err, lines)]
        raise ModelFileError(file, problems) from None


YAML_11_BOOLEANS = frozenset({"yes", "no", "on", "off", "y", "n"})


def model_warnings(text: str) -> list[ModelProblem]:
    """Things that load but probably do not mean what they say.

    An unquoted ``yes``/``no``/``on``/``off`` in a value is a YAML boolean, which
    never equals a text field's value; for a boolean field it should read true/false.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if root is None:
        return []
    warnings = []
    for path, node in _scalars(root):
        if "value" not in path or node.tag != "tag:yaml.org,2002:bool" or node.style is not None:
            continue
        if node.value.lower() in YAML_11_BOOLEANS:
            warnings.append(
                ModelProblem(
                    _dotted(path),
                    node.start_mark.line + 1,
                    f"unquoted {node.value} is read as the boolean {node.value.lower() in ('yes', 'on', 'y')}"
                    f" and never matches text; write '{node.value}' in quotes to match the word, "
                    "or true/false for a boolean field",
                )
            )
    return warnings


def _scalars(node: yaml.Node, path: Path_ = ()) -> list[tuple[Path_, yaml.ScalarNode]]:
    if isinstance(node, yaml.ScalarNode):
        return [(path, node)]
    found: list[tuple[Path_, yaml.ScalarNode]] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            found.extend(_scalars(value_node, (*path, key_node.value)))
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            found.extend(_scalars(item, (*path, position)))
    return found


def _keys_given_twice(node: yaml.Node, path: Path_ = ()) -> list[ModelProblem]:
    """YAML keeps the last of two equal keys without a word; a model file that does so is refused instead."""
    found: list[ModelProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                found.append(
                    ModelProblem(
                        _dotted((*path, key)),
                        key_node.start_mark.line + 1,
                        "key given twice in one mapping; YAML would keep only the last; remove one",
                    )
                )
            seen.add(key)
            found.extend(_keys_given_twice(value_node, (*path, key)))
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            found.extend(_keys_given_twice(item, (*path, position)))
    return found


def _line_index(node: yaml.Node, path: Path_ = ()) -> dict[Path_, int]:
    index: dict[Path_, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            index.update(_line_index(value_node, (*path, key)))
            index[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            index.update(_line_index(item, (*path, position)))
    return index


def _problems(error: Any, lines: dict[Path_, int]) -> list[ModelProblem]:
    """One problem per pydantic error, or one per located problem of a cross-section check."""
    loc: Path_ = tuple(part for part in error["loc"] if isinstance(part, int) or not part.startswith("<"))
    located = (error.get("ctx") or {}).get("error")
    if isinstance(located, Located):
        return [
            ModelProblem(_dotted((*loc, *path)), _line_of((*loc, *path), lines), message)
            for path, message in located.problems
        ]
    return [_problem(error, loc, lines)]


def _line_of(loc: Path_, lines: dict[Path_, int]) -> int | None:
    for length in range(len(loc), -1, -1):
        if loc[:length] in lines:
            return lines[loc[:length]]
    return None


def _problem(error: Any, loc: Path_, lines: dict[Path_, int]) -> ModelProblem:
    line = _line_of(loc, lines)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(ModelFile, loc[:-1])
        message = f"unknown key '{loc[-1]}'" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif error["type"] in ("literal_error", "enum"):
        message = f"{error.get('input')!r} is not allowed; {message[0].lower()}{message[1:]}"
    elif error["type"] == "missing":
        message = "required but missing"
    return ModelProblem(_dotted(loc), line, message)


def _dotted(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _allowed_keys(model: type[BaseModel], loc: Path_) -> list[str]:
    """Walk the schema along ``loc`` to list the keys valid where an unknown one was found."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _step(annotation: Any, part: str | int) -> Any:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        by_key = {info.alias or name: info for name, info in annotation.model_fields.items()}
        if not isinstance(part, str) or part not in by_key:
            return None
        return _unwrap(by_key[part].annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple) and args:
        return _unwrap(args[0])
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated so the walk sees the model class underneath."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation
