"""Hypothesis strategies for valid SPEC traffic: settings lines, set-ups, whole traffics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from domain.settings import EDITIONS, LICENCES, PLANS, POLICIES, PortalChanges, PortalSettings
from domain.vocabulary import CRM_CLASSIC, CRM_FACTORY, Module, Trigger, document_type

Line = dict[str, Any]

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))
OFFSETS = (START.tzinfo or UTC, UTC, timezone(timedelta(hours=-5)))
# A process creates the id one above the largest ever used, so the traffic's own ids of the
# types that templates create are spaced this far apart: no process-made id is used again.
CREATED_ID_STRIDE = 1_000_000
PARAMETER_NAMES = ("Amount", "Region")
CONSTANT_NAMES = ("Approver", "Budget")
FIELD_NAMES = ("STAGE_ID", "TITLE", "OPPORTUNITY", "ASSIGNED_BY_ID")
MODULES = tuple(module.value for module in Module)
TIMED_OPS = ("create", "update", "import", "delete")

_ACTORS = st.sampled_from(["user_1", "user_7", "admin"])
_VALUES = st.sampled_from(["100", "user_1", None, ""])  # null and "" count as missing
_FIELD_VALUES = st.one_of(st.sampled_from(["WON", "NEW", "Order"]), st.integers(0, 10_000))
_GAPS_S = st.one_of(st.integers(0, 900), st.sampled_from([3600, 86_400]))


def document_types(modules: Iterable[str] | None = None) -> st.SearchStrategy[str]:
    """Document type names of `modules` (crm, feed, lists, disk; all four by default)."""
    chosen = MODULES if modules is None else tuple(modules)
    if not chosen or not set(chosen) <= set(MODULES):
        raise InvalidArgument(f"modules must be some of {', '.join(MODULES)}, got {chosen!r}")
    numbers = st.integers(1, 30)
    by_module = {
        "crm": st.one_of(
            st.sampled_from([f"crm.{entity}" for entity in (*CRM_CLASSIC, *CRM_FACTORY)]),
            numbers.map("crm.dynamic_{}".format),
        ),
        "feed": numbers.map("feed.iblock_{}".format),
        "lists": numbers.map("lists.iblock_{}".format),
        "disk": numbers.map("disk.storage_{}".format),
    }
    return st.one_of(*(by_module[module] for module in chosen))


def portal_settings() -> st.SearchStrategy[Line]:
    """A `portal` line giving any valid subset of the settings (possibly none)."""
    settings: dict[str, st.SearchStrategy[Any]] = {
        "edition": st.sampled_from(EDITIONS),
        "plan": st.sampled_from(PLANS),
        "licence": st.sampled_from(LICENCES),
        "features": st.fixed_dictionaries(
            {}, optional={"bizproc": st.booleans(), "lists_processes": st.booleans()}
        ),
        "email_integration": st.booleans(),
        "telephony": st.booleans(),
        "start_bp_within_bp": st.booleans(),
        "limit_simultaneous_processes": st.integers(0, 4),
        "limit_policy": st.sampled_from(POLICIES),
        "actor": _ACTORS,
    }
    return st.fixed_dictionaries({"op": st.just("portal")}, optional=settings).map(_op_first)


def containers(document_types: Sequence[str] | None = None) -> st.SearchStrategy[Line]:
    """A `container` line for one of the Feed, list or Drive types among `document_types`."""
    if document_types is None:
        types = _document_types(("feed", "lists", "disk"))
    else:
        names = [n for n in _checked(document_types) if document_type(n).has_container]
        if not names:
            raise InvalidArgument("containers() needs a feed, lists or disk document type")
        types = st.sampled_from(names)
    return st.fixed_dictionaries(
        {"op": st.just("container"), "document_type": types, "bizproc_enabled": st.booleans()},
        optional={"actor": _ACTORS},
    ).map(_op_first)


def templates(
    document_types: Sequence[str] | None = None,
    ids: Sequence[int] | st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[Line]:
    """A template's first line: its id, type, auto_execute 0-3, and any of the other fields.

    Its `create` actions make elements of `document_types` too, so cascades meet the traffic.
    """
    types = _document_types(None) if document_types is None else _one_of(document_types)
    if ids is None:
        template_ids: st.SearchStrategy[int] = st.integers(1, 99)
    elif isinstance(ids, st.SearchStrategy):
        template_ids = ids
    else:
        template_ids = st.sampled_from(list(ids))
    actions = st.one_of(
        st.fixed_dictionaries(
            {"update": st.dictionaries(st.sampled_from(FIELD_NAMES), _FIELD_VALUES, max_size=2)}
        ),
        st.fixed_dictionaries({"create": types}),
    )
    return st.fixed_dictionaries(
        {
            "op": st.just("template"),
            "template": template_ids,
            "document_type": types,
            "auto_execute": st.sampled_from([3, 1, 2, 0]),
        },
        optional=_template_fields(actions),
    ).map(_op_first)


def setups(document_types: Sequence[str] | None = None) -> st.SearchStrategy[list[Line]]:
    """Settings lines a portal starts with: portal and container lines, then 1-4 templates."""
    return _setups(None if document_types is None else _checked(document_types))


def changed_fields() -> st.SearchStrategy[dict[str, Any]]:
    """The `changed` (or `fields`) object of a line, possibly empty."""
    return st.dictionaries(st.sampled_from(FIELD_NAMES), _FIELD_VALUES, max_size=3)


def parameter_values(names: Iterable[str] = PARAMETER_NAMES) -> st.SearchStrategy[Line]:
    """A line's `parameters` object: values given at start, some of them missing."""
    return st.dictionaries(st.sampled_from(sorted(set(names))), _VALUES, max_size=2)


def traffic(
    setup: Sequence[Line] | st.SearchStrategy[list[Line]] | None = None,
    document_types: Sequence[str] | None = None,
    max_lines: int = 20,
) -> st.SearchStrategy[list[Line]]:
    """A whole valid traffic: the `setup` lines, then up to `max_lines` timed lines.

    The timed lines create, update, import and delete elements of `document_types` (by
    default the types of the set-up's templates and containers), with `at` never
    decreasing, only through the channels the element's module allows for that op, never
    `email` or `call` while the set-up has e-mail integration or telephony off; updates and
    deletes only of elements that exist, and never an id used before. Without `setup` a
    random set-up is drawn (`setups()`); give `setup=[]` for none.
    """
    if max_lines < 0:
        raise InvalidArgument(f"max_lines must be at least 0, got {max_lines}")
    types = None if document_types is None else _checked(document_types)
    if setup is None:
        return _traffic(_setups(types), types, max_lines)
    if isinstance(setup, st.SearchStrategy):
        return _traffic(setup, types, max_lines)
    return _traffic(st.just([dict(line) for line in setup]), types, max_lines)


@dataclass
class TrafficState:
    """What the lines so far have set up, as far as which next lines are valid depends on it."""

    clock: datetime = START
    settings: PortalSettings = field(default_factory=PortalSettings)
    template_types: dict[int, str] = field(default_factory=dict)
    container_types: set[str] = field(default_factory=set)
    created_types: set[str] = field(default_factory=set)  # types the templates' actions create
    parameter_names: set[str] = field(default_factory=lambda: set(PARAMETER_NAMES))
    last_ids: dict[str, int] = field(default_factory=dict)
    live: list[str] = field(default_factory=list)
    # What a template says about starting by itself and its constants, by id.
    configs: dict[int, Line] = field(default_factory=dict)

    @classmethod
    def after(cls, lines: Iterable[Line]) -> TrafficState:
        state = cls()
        for line in lines:
            state.apply(line)
        return state

    def apply(self, line: Line) -> None:
        """Takes in a line already accepted by the replay (or about to be)."""
        if "at" in line:
            self.clock = max(self.clock, datetime.fromisoformat(line["at"]))
        op = line["op"]
        if op == "portal":
            given = {k: v for k, v in line.items() if k not in ("op", "at", "actor")}
            self.settings = self.settings.changed(cast("PortalChanges", given))
        elif op == "container":
            self.container_types.add(line["document_type"])
        elif op == "template":
            self.template_types.setdefault(line["template"], line.get("document_type", ""))
            config = self.configs.setdefault(line["template"], {"auto_execute": 0, "constants": []})
            config |= {k: line[k] for k in ("auto_execute", "constants") if k in line}
            self.created_types |= {a["create"] for a in line.get("actions", []) if "create" in a}
            self.parameter_names |= {p["name"] for p in line.get("parameters", [])}
        elif op in ("create", "import"):
            for name in line.get("elements", [line.get("element")]):
                kind, number = name.rsplit(":", 1)
                self.last_ids[kind] = max(self.last_ids.get(kind, 0), int(number))
                if not self.refuses(kind, line.get("channel", "import")):
                    self.live.append(name)
        elif op == "delete":
            self.live.remove(line["element"])

    def refuses(self, name: str, channel: str) -> bool:
        """Whether the portal refuses a write (lists REST to a list with an untuned template):
        an add it refuses makes no element, so no later line may name it."""
        module = document_type(name).module
        if channel != "rest" or module not in (Module.FEED, Module.LISTS):
            return False
        settings = self.settings
        if not settings.bizproc or (module is Module.FEED and not settings.lists_processes):
            return False
        return any(
            self.template_types.get(template) == name
            and config["auto_execute"] & 3
            and any(c.get("required") and c.get("value") in (None, "") for c in config["constants"])
            for template, config in self.configs.items()
        )

    @property
    def templates(self) -> dict[str, list[int]]:
        """Template ids by document type, ascending."""
        by_type: dict[str, list[int]] = {}
        for template, kind in sorted(self.template_types.items()):
            by_type.setdefault(kind, []).append(template)
        return by_type

    def known_types(self) -> list[str]:
        elements = (name.rsplit(":", 1)[0] for name in self.live)
        names = {*self.template_types.values(), *self.container_types, *elements}
        return sorted(names)

    def channels(self, name: str, op: str) -> list[str]:
        """The channels a create or update of an element of type `name` may use now, ui first."""
        trigger = Trigger.ADD if op == "create" else Trigger.CHANGE
        off = {"email"} if not self.settings.email_integration else set()
        off |= {"call"} if not self.settings.telephony else set()
        allowed = set(document_type(name).channels(trigger)) - off
        return sorted(allowed, key=lambda channel: (channel != "ui", channel))

    def fresh_element(self, name: str, gap: int, known_last_id: int | None = None) -> str:
        """A new element of type `name`, `gap` above the last id.

        Ids of types that processes create are spaced CREATED_ID_STRIDE apart, unless the
        caller knows the store's own last id (`known_last_id`, processes' ids included).
        """
        last = self.last_ids.get(name, 0)
        if known_last_id is not None:
            number = max(last, known_last_id) + gap
        else:
            number = last + (CREATED_ID_STRIDE if name in self.created_types else gap)
        self.last_ids[name] = number
        return f"{name}:{number}"


def importable(names: Iterable[str]) -> list[str]:
    """The types among `names` an import can create (Drive has no import)."""
    return [n for n in names if document_type(n).module is not Module.DISK]


def _template_fields(actions: st.SearchStrategy[Line]) -> dict[str, st.SearchStrategy[Any]]:
    def named(names: tuple[str, ...], value_key: str) -> st.SearchStrategy[list[Line]]:
        item = st.fixed_dictionaries(
            {"name": st.sampled_from(names)},
            optional={"required": st.booleans(), value_key: _VALUES},
        )
        return st.lists(item, max_size=len(names), unique_by=lambda i: str(i["name"]))

    return {
        "active": st.sampled_from([True, False]),
        "parameters": named(PARAMETER_NAMES, "default"),
        "constants": named(CONSTANT_NAMES, "value"),
        "duration": st.sampled_from([0, 60, 600, 3600]),
        "actions": st.lists(actions, max_size=2),
        "actor": _ACTORS,
    }


@st.composite
def _setups(draw: st.DrawFn, types: list[str] | None) -> list[Line]:
    if types is None:
        types = draw(st.lists(_document_types(None), min_size=1, max_size=3, unique=True))
    lines: list[Line] = draw(st.lists(portal_settings(), max_size=2))
    if any(document_type(name).has_container for name in types):
        lines += draw(st.lists(containers(types), max_size=2))
    firsts = draw(
        st.lists(templates(types), min_size=1, max_size=4, unique_by=lambda t: int(t["template"]))
    )
    lines += firsts
    # Sometimes an administrator reconfigures a template: a new configuration version.
    for first in draw(st.lists(st.sampled_from(firsts), max_size=2)):
        fields = draw(templates(types)).items()
        changed = {k: v for k, v in fields if k not in ("op", "template", "document_type")}
        kept = draw(st.sets(st.sampled_from(sorted(changed))))
        lines.append(
            {"op": "template", "template": first["template"]} | {k: changed[k] for k in kept}
        )
    return lines


@st.composite
def _traffic(
    draw: st.DrawFn,
    setup_lines: st.SearchStrategy[list[Line]],
    types: list[str] | None,
    max_lines: int,
) -> list[Line]:
    lines = list(draw(setup_lines))  # a copy: `st.just` gives the same list every time
    state = TrafficState.after(lines)
    if types is None:
        types = state.known_types() or draw(
            st.lists(_document_types(None), min_size=1, max_size=3, unique=True)
        )
    for _ in range(draw(st.integers(0, max_lines))):
        ops = ["create", "update", "import", "delete"]
        if not state.live:
            ops.remove("update")
            ops.remove("delete")
        if not importable(types):
            ops.remove("import")
        op = draw(st.sampled_from(ops))
        state.clock += timedelta(seconds=draw(_GAPS_S))
        line: Line = {"op": op, "at": state.clock.astimezone(draw(st.sampled_from(OFFSETS)))}
        line["at"] = line["at"].isoformat()
        if op == "create":
            name = draw(st.sampled_from(types))
            line["element"] = state.fresh_element(name, draw(st.integers(1, 3)))
            line["channel"] = draw(st.sampled_from(state.channels(name, "create")))
            line |= draw(st.fixed_dictionaries({}, optional={"fields": changed_fields()}))
        elif op == "update":
            line["element"] = draw(st.sampled_from(state.live))
            name = line["element"].rsplit(":", 1)[0]
            line["channel"] = draw(st.sampled_from(state.channels(name, "update")))
            line["changed"] = draw(changed_fields())
        elif op == "import":
            name = draw(st.sampled_from(importable(types)))
            line["document_type"] = name
            line["elements"] = [
                state.fresh_element(name, 1) for _ in range(draw(st.integers(1, 3)))
            ]
            line |= draw(st.fixed_dictionaries({}, optional={"file": st.just(f"{name}.csv")}))
        else:
            line["element"] = draw(st.sampled_from(state.live))
        if op in ("create", "update"):
            values = parameter_values(state.parameter_names)
            line |= draw(st.fixed_dictionaries({}, optional={"parameters": values}))
        line |= draw(st.fixed_dictionaries({}, optional={"actor": _ACTORS}))
        state.apply(line)
        lines.append(line)
    return lines


def _checked(names: Iterable[str]) -> list[str]:
    checked = list(names)
    for name in checked:
        try:
            document_type(name)
        except ValueError:
            raise InvalidArgument(f"{name!r} is not a SPEC document type") from None
    if not checked:
        raise InvalidArgument("document_types must name at least one document type")
    return checked


def _op_first(line: Line) -> Line:
    """The same line with `op` first, so a failing example reads naturally."""
    return {"op": line["op"], **line}


def _one_of(names: Sequence[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(_checked(names))


_document_types = document_types
