"""var_types: the class a file declares for a variable, per language."""

from __future__ import annotations

from cl_lsp.core.var_types import dotted_objects, variable_types


def test_python_annotations_and_constructors() -> None:
    text = (
        "def send(req: Request, n: int, hook: Optional[Hook]):\n"
        "    session = sessions.Session()\n"
        "    self.pool = Pool(3)\n"
        "    if req == Other(1):\n"
    )
    assert variable_types(text, "python") == {
        "req": "Request",
        "hook": "Hook",
        "session": "Session",
        "pool": "Pool",
    }  # `n: int` is no class; `==` is no assignment


def test_typescript_parameters_fields_and_new() -> None:
    text = (
        "constructor(private readonly cache?: Cache<K>) {}\n"
        "function f(req: Request) {\n"
        "  const p = new Pool(1);\n"
        "  this.timer = new Timer();\n"
    )
    assert variable_types(text, "typescript") == {
        "cache": "Cache",
        "req": "Request",
        "p": "Pool",
        "timer": "Timer",
    }


def test_go_receivers_parameters_and_short_declarations() -> None:
    text = (
        "func (c *Command) Run(cmd *Command, args []string) error {\n"
        '\tflag := &Flag{Name: "x"}\n'
        "\tvar group *Group\n"
        "\tparser := NewParser(args)\n"
        "\tn := len(args)\n"
    )
    assert variable_types(text, "go") == {
        "c": "Command",
        "cmd": "Command",
        "flag": "Flag",
        "group": "Group",
        "parser": "Parser",
    }


def test_the_last_declaration_wins() -> None:
    assert variable_types("x = First()\nx = Second()\n", "python") == {"x": "Second"}


def test_dotted_objects_include_attribute_chains() -> None:
    assert dotted_objects("self.pool.get(x)\nreq.send()  # 1.5") == {"self", "pool", "req"}
