"""
The contract between the loop and its parts (:mod:`art_accel.contract`): parts use only the trainer's public
calls, capabilities are declared (never probed), clashing parts are refused at assembly, no module imports in a
circle, and every list of methods is derived from the registry or checked here against it.
"""
import ast
import importlib
import inspect
import os
import pkgutil
import re

import pytest

import art_accel
import art_accel.trainers
from art_accel import parts, registry
from art_accel.contract import Part

from conftest import make_classifier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "art_accel")
PART_MODULES = sorted(set(parts.CATALOGUE.values()))


def _source(module_name: str) -> str:
    return inspect.getsource(importlib.import_module(module_name))


def _private_uses(tree: ast.AST):
    """``x._name`` where ``x`` is not ``self``/``cls`` (a part's own state is ``self._name``), and
    ``self.trainer._name``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            yield ast.unparse(node)


@pytest.mark.parametrize("module", PART_MODULES)
def test_parts_use_no_private_attribute_of_the_trainer(module):
    tree = ast.parse(_source(module))
    found = [use for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef) for use in _private_uses(cls)]
    # a part's own attributes through ``self`` are allowed; anything else private is reaching into another object
    assert found == [], f"{module}: {found}"


def test_the_private_use_check_can_fail():
    tree = ast.parse("class P:\n    def f(self):\n        t = self.trainer\n        t._update(1)\n"
                     "        self.trainer._ce(2)\n        self._mine = 1\n")
    assert sorted(_private_uses(tree)) == ["self.trainer._ce", "t._update"]


@pytest.mark.parametrize("module", [*PART_MODULES, "art_accel.trainers.base", "art_accel.distributed"])
def test_capabilities_are_read_not_probed(module):
    """No ``getattr``/``hasattr`` on a part (``p``, ``part``, a part's ``self``) in the loop or the parts."""
    calls = re.findall(r"\b(?:getattr|hasattr)\((p|part|self|trainer\.objective|t\.objective)\b", _source(module))
    assert calls == [], f"{module} probes parts: {calls}"


def test_every_capability_is_declared_on_part():
    declared = {name for name, value in vars(Part).items() if isinstance(value, bool)}
    assert declared == {"sets_k", "sets_step_each_epoch", "sets_eps_each_epoch", "sets_eps", "sets_step",
                        "sets_start", "uses_index", "needs_input_grad", "makes_attack"}


def test_two_parts_overriding_the_same_batch_value_are_refused():
    from art_accel.parts import AdaptiveStep, NoiseStart

    with pytest.raises(ValueError, match="WeakFixedStart and AdaptiveStep would both set the attack's per-batch"):
        art_accel.AdversarialTrainerAmata(make_classifier(), eps=0.1, base="fgsm",
                                          budget=AdaptiveStep(0.5, 1.0, 0.2, 0.05, 0.15, 0, 10))
    with pytest.raises(ValueError, match="EntropyEps and NoiseStart would both set the attack's per-batch eps"):
        art_accel.AdversarialTrainerECAS(make_classifier(), eps=0.1, h_low=0.5, h_high=1.2, budget=NoiseStart())


def test_attack_strength_has_one_home():
    t = art_accel.AdversarialTrainerPGD(make_classifier(), eps=0.1, max_iter=3, verbose=False)
    assert t.attack.strength is t.strength
    t.strength.max_iter, t.strength.eps_step = 5, 0.01
    assert (t.max_iter, t.attack.max_iter, t.eps_step, t.attack.eps_step) == (5, 5, 0.01, 0.01)
    with pytest.raises(AttributeError):
        t.max_iter = 2  # the trainer's attributes read the strength; schedules write the strength
    g = art_accel.AdversarialTrainerGAAT(make_classifier(), eps=0.1, verbose=False)
    assert type(g.attack).__name__ == "TaylorPGD" and g.attack.strength is g.strength


# ---------------------------------------------------------------- no import circles


def _imports(path: str, package_modules) -> set:
    """Every module ``path`` imports (top level, function-local and under TYPE_CHECKING alike)."""
    out = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n in package_modules}
    return out


def _cycle(graph):
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
            if nxt not in state:
                found = visit(nxt, stack + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def _package_graph():
    files = {}
    for dirpath, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, name), ROOT)[:-3].replace(os.sep, ".")
                files[rel[:-9] if rel.endswith(".__init__") else rel] = os.path.join(dirpath, name)
    # a module imports its package's __init__ first; edges to a package itself are the __init__'s own
    return {m: _imports(p, files) - {m} for m, p in files.items()}


def test_no_import_circle_in_the_package():
    graph = _package_graph()
    graph["art_accel"] = set()  # ``from art_accel import distributed`` names a submodule, not the package body
    for module in graph:
        graph[module].discard("art_accel")
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph))}"


def test_no_import_circle_in_the_benchmarks():
    folder = os.path.join(ROOT, "benchmarks")
    files = {n[:-3]: os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".py")}
    graph = {m: _imports(p, files) - {m} for m, p in files.items()}
    assert _cycle(graph) is None, f"import circle: {' -> '.join(_cycle(graph))}"


def test_the_circle_check_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


# ---------------------------------------------------------------- one list of methods


def _defined(module_names, kind):
    for name in module_names:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == name and kind(attr, value):
                yield attr, value


def _all_modules():
    names = ["art_accel"]
    for info in pkgutil.walk_packages(art_accel.__path__, "art_accel."):
        if info.name != "art_accel.cli":  # the CLI defines no trainer or part
            names.append(info.name)
    return names


def test_every_trainer_class_is_registered_and_exported():
    trainers = dict(_defined(_all_modules(), lambda n, c: n.startswith("AdversarialTrainer")
                             and n != "AdversarialTrainerBase"))
    assert set(trainers.values()) == set(registry.trainer_classes())
    assert {n for n in art_accel.__all__ if n.startswith("AdversarialTrainer")} == set(trainers) | {
        "AdversarialTrainerBase"}


def test_every_part_is_in_the_catalogue():
    defined = dict(_defined(_all_modules(), lambda n, c: issubclass(c, Part) and c is not Part
                            and not n.startswith("_")))
    assert set(defined) == set(parts.CATALOGUE)
    for name, cls in defined.items():
        assert getattr(parts, name) is cls


def test_every_method_has_its_docs_page_and_api_entry():
    methods_dir = os.path.join(ROOT, "docs", "methods")
    pages = {n[:-4] for n in os.listdir(methods_dir) if n.endswith(".rst") and n != "index.rst"}
    index = open(os.path.join(methods_dir, "index.rst")).read()
    assert all(re.search(rf"^\s+{p}$", index, re.M) for p in pages), "a page missing from docs/methods/index.rst"
    text = "".join(open(os.path.join(methods_dir, f"{p}.rst")).read() for p in pages)
    for cls in registry.trainer_classes():
        assert cls.__name__ in text, f"{cls.__name__} has no page in docs/methods/"
    api = open(os.path.join(ROOT, "docs", "api.rst")).read()
    for module in {*registry.method_modules(), *parts.CATALOGUE.values()}:
        assert f".. automodule:: {module}" in api, f"{module} is missing from docs/api.rst"


def test_every_method_is_in_the_benchmarks_method_list():
    import sys

    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        configs = importlib.import_module("configs")
    finally:
        sys.path.pop(0)
    benchmarked = {registry.METHODS[name] for name, _ in configs.METHODS.values() if name in registry.METHODS}
    classes = {getattr(m, "func", m) for m in benchmarked}
    missing = [c.__name__ for c in registry.trainer_classes() if c not in classes]
    assert missing == [], f"not in benchmarks/configs.py METHODS: {missing}"
