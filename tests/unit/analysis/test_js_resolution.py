"""JavaScript/TypeScript receivers: this, new, const, TS annotations, namespace imports."""

from __future__ import annotations

import pytest
from analysis_testing import oracle_for, strict_analysis, write_files  # noqa: F401

from analysis.js_symbols import OBJECT_PROTOTYPE
from analysis.workspace import WorkspaceIndex

TS = """
class Base { baseField = 1; baseMethod() { this.fromBase = 2; } }
class Foo extends Base {
  alpha = 1;
  static count = 0;
  #secret = 2;
  constructor(private p: number, public q: Base, plain) { super(); this.beta = 2; }
  get gamma(): Foo { return this; }
  make(): Foo { return new Foo(1, null, 2); }
  method(other: Base, untyped, maybe?: Foo | null) {
    const f = new Foo(1, null, 2);
    let g = new Foo(1, null, 2);
    g = null;
    let h = new Foo(1, null, 2);
    const arrow = () => this;
    function plain() { return this; }
    <|>
  }
  static build() {
    <|>
  }
}
interface Shape extends Named { area(): number; readonly sides: number }
interface Named { name: string }
interface Loose { [key: string]: number }
type Pair = { left: Foo; right(): void };
class Dyn { [key: string]: any }
class FromUnknown extends React.Component { render() { <|> } }
class Bag { [key: string]: any; size = 0; add(item) { return item; } }
class Sack extends Bag { empty() { return true; } }
"""
FOO = {
    "alpha",
    "beta",
    "gamma",
    "make",
    "method",
    "p",
    "q",
    "#secret",
    "baseField",
    "baseMethod",
    "fromBase",
}


def oracle_at(marker_index: int, source: str = TS, uri: str = "file:///tmp/m.ts", workspace=None):
    parts = source.split("<|>")
    text = (
        "".join(p + ("<|>" if i == marker_index else "") for i, p in enumerate(parts[:-1]))
        + parts[-1]
    )
    return oracle_for(text, uri, workspace)


@pytest.mark.parametrize(
    "extra",
    [
        "this",
        "f",
        "h",
        "new Foo(1, null, 2)",
        "f.make()",
        "this.gamma",
        "maybe",
        "`${this",
        "x = this",
    ],
)
def test_instances_are_constrained(extra):
    members = oracle_at(0).members(extra)
    assert members is not None
    assert FOO <= members and OBJECT_PROTOTYPE <= members
    assert "count" not in members and "nonexistent" not in members


def test_class_objects_and_static_this():
    by_name = oracle_at(0).members("Foo")
    assert {"count", "build", "prototype", "name"} <= by_name and "alpha" not in by_name
    assert {"count", "build"} <= oracle_at(1).members("this")


def test_typescript_interfaces_aliases_and_annotations():
    oracle = oracle_at(3, TS + "\nfunction use(s: Shape, pair: Pair, loose: Loose) {\n  <|>\n}\n")
    assert {"area", "sides", "name"} <= oracle.members("s")
    assert {"left", "right"} <= oracle.members("pair")
    assert FOO <= oracle.members("pair.left")
    assert oracle.members("loose") is None  # index signature


@pytest.mark.parametrize(
    "extra",
    [
        "g",
        "other.missing",
        "untyped",
        "plain",
        "arrow",
        "function q() { return this",
        "'this",
        "// this",
        "x = 1.5",
        "/re.this",
    ],
)
def test_uncertain_or_non_code_receivers_are_open(extra):
    assert oracle_at(0).members(extra) is None


def test_unresolved_extends_and_index_signatures_are_open():
    assert oracle_at(2).members("this") is None
    assert oracle_at(0).members("new Dyn()") is None


def test_open_receivers_declare_their_own_names_for_the_monitor_to_prefer():
    # an index signature opens the class; what its chain declares is still certain
    assert oracle_at(0).members("new Sack()") is None
    assert oracle_at(0).declared("new Sack()") == {"size", "add", "empty"} | OBJECT_PROTOTYPE
    assert oracle_at(0).declared("new Dyn()") == OBJECT_PROTOTYPE
    # a base out of sight: its names are as real as the class's own, nothing preferred
    assert oracle_at(2).members("this") is None and oracle_at(2).declared("this") is None
    # resolved receivers: the member set decides, nothing to prefer
    assert oracle_at(0).declared("this") is None
    assert oracle_at(0).declared("untyped") is None


def test_namespace_imports_and_extends_across_workspace_modules(tmp_path):
    write_files(
        tmp_path,
        {
            "src/shapes.ts": "export class Shape { area(): number { return 0; } }\nexport const unit = 1;\nexport function draw() {}\nexport * from './more';\n",
            "src/more.ts": "export class Extra {}\nexport default 3;\n",
            "src/commonjs.js": "module.exports = { a: 1 };\n",
            "src/app.ts": "",
        },
    )
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    uri = (tmp_path / "src" / "app.ts").as_uri()
    source = (
        "import * as shapes from './shapes';\nimport * as cjs from './commonjs';\n"
        "import { Shape } from './shapes';\n"
        "class Square extends Shape { side = 1; m() { <|> } }\n"
    )
    oracle = oracle_for(source, uri, workspace)
    assert oracle.members("shapes") == {"Shape", "unit", "draw", "Extra"}
    assert oracle.members("cjs") is None
    assert {"side", "area", "m"} <= oracle.members("this")
    assert {"area"} <= oracle.members("new shapes.Shape()")


def test_javascript_external_prototype_assignments_are_members():
    source = (
        "class K { a() {} }\nK.prototype.extra = 1;\nK.staticExtra = 2;\nconst k = new K();\n<|>\n"
    )
    oracle = oracle_for(source, "file:///tmp/k.js")
    assert {"a", "extra"} <= oracle.members("k")
    assert "staticExtra" in oracle.members("K")
    assigned = "class K { a() {} }\nObject.assign(K.prototype, mixin);\nconst k = new K();\n<|>\n"
    assert oracle_for(assigned, "file:///tmp/k.js").members("k") is None


def test_draft_text_that_opens_blocks_is_resolved():
    oracle = oracle_at(0)
    assert FOO <= oracle.members("if (ok) {\n      const z = new Foo(1, null, 2);\n      z")
    assert FOO <= oracle.members("items.forEach((item) => {\n      this")
    assert oracle.members("for (const item of items) {\n      item") is None
    assert oracle.members("items.forEach(function (item) {\n      this") is None


def test_extraction_and_resolution_are_separate_modules_with_the_old_names_kept():
    import analysis.js_resolution as resolution
    import analysis.js_symbols as symbols

    assert symbols.JsResolver is resolution.JsResolver  # callers written before the split
    assert symbols.JsInstance is resolution.JsInstance
    assert symbols._class_node_at is symbols.class_node_at
    assert "JsResolver" not in vars(symbols)  # extraction does not define resolution


JSDOC = """
class Shape { area() { return 0; } }
class Label { text = ''; }
/**
 * @param {Shape} shape the shape
 * @param {?Label} [label]
 * @param {Shape|Label} either
 * @param {Shape[]} many
 * @param {Array.<Shape>} more
 * @param {Unknown} unknown
 * @returns {Label}
 */
function draw(shape, label, either, many, more, unknown, untyped) {
  /** @type {Shape} */
  const declared = make();
  <|>
}
class Canvas {
  /** @type {Shape} */
  current = null;
  /** @returns {Shape} */
  pick() { return null; }
  /** @type {Label} */ static title = null;
}
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("shape", {"area"}),
        ("label", {"text"}),  # nullable and optional: the class
        ("declared", {"area"}),
        ("draw(s)", {"text"}),  # @returns
        ("new Canvas().current", {"area"}),  # a field's @type
        ("new Canvas().pick()", {"area"}),
    ],
)
def test_jsdoc_types_in_javascript(extra, expected):
    members = oracle_for(JSDOC, "file:///tmp/draw.js").members(extra)
    assert members is not None and expected <= members


@pytest.mark.parametrize("extra", ["either", "many", "more", "unknown", "untyped"])
def test_uncertain_jsdoc_types_stay_open(extra):
    # a union of two classes, arrays (Array.prototype may be extended), unknown names
    assert oracle_for(JSDOC, "file:///tmp/draw.js").members(extra) is None


def test_a_reassigned_jsdoc_parameter_is_open():
    source = "class A { a() {} }\n/** @param {A} p */\nfunction f(p) {\n  p = p || {};\n  <|>\n}\n"
    assert oracle_for(source, "file:///tmp/f.js").members("p") is None


FOR_OF = """
class Item { price = 0; }
function total(items: Item[], more: Array<Item>, frozen: ReadonlyArray<Item>) {
  /** @type {Item[]} */
  const documented = [];
  <|>
}
"""


@pytest.mark.parametrize("iterable", ["items", "more", "frozen", "documented"])
def test_for_of_variables_over_typed_arrays(iterable):
    oracle = oracle_for(FOR_OF, "file:///tmp/t.ts")
    members = oracle.members(f"for (const item of {iterable}) {{\n    item")
    assert members is not None and "price" in members
    assert oracle.members(iterable) is None  # the array itself: members open


@pytest.mark.parametrize(
    "loop",
    [
        "for (const item of untyped) {\n    item",
        "for (let item of items) {\n    item = other;\n    item",  # reassigned
        "for (const [a, b] of items) {\n    a",  # destructuring
        "for (const item in items) {\n    item",  # keys, not elements
    ],
)
def test_uncertain_loop_variables_are_open(loop):
    source = FOR_OF.replace("frozen: ReadonlyArray<Item>", "frozen: ReadonlyArray<Item>, untyped")
    assert oracle_for(source, "file:///tmp/t.ts").members(loop) is None


def test_a_local_array_class_is_not_the_builtin_array():
    source = "class Array<T> { mine = 1; }\nclass Item { price = 0; }\n"
    source += "function f(xs: Array<Item>) {\n  <|>\n}\n"
    assert "mine" in oracle_for(source, "file:///tmp/t.ts").members("xs")


def test_imported_classes_by_name_and_default(tmp_path):
    write_files(
        tmp_path,
        {
            "src/shape.ts": "export default class Shape { area(): number { return 0; } }\n",
            "src/label.js": "/** @returns {Label} */\nexport function make() {}\n"
            "export class Label { text = ''; }\n",
            "src/app.ts": "",
        },
    )
    workspace = WorkspaceIndex(tmp_path)
    workspace.build()
    source = "import Shape from './shape';\nimport { make, Label } from './label';\n<|>\n"
    oracle = oracle_for(source, (tmp_path / "src" / "app.ts").as_uri(), workspace)
    assert "area" in oracle.members("new Shape()")
    assert "text" in oracle.members("make()")
    assert "text" in oracle.members("new Label()")
