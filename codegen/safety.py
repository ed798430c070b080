"""The allow-list check every generated file passes: only known imports, calls, names and literals.

``check_source`` parses the file and walks its syntax tree. Anything outside a small grammar of
imports, assignments, one ``with DAG(...)`` block, allow-listed calls with literal arguments, and
``a >> b`` dependencies is a violation, so that no path from a pipeline document to executable
code exists even if a template or a filter had a bug.
"""

from __future__ import annotations

import ast

from .compat import ALLOWED_FROM_IMPORTS, ALLOWED_IMPORTS, LOCAL_BASH, LOCAL_BASH_NAME
from .literals import ident

K8S_MODELS = frozenset(
    {
        "V1EmptyDirVolumeSource",
        "V1PersistentVolumeClaimVolumeSource",
        "V1PodSecurityContext",
        "V1SecretVolumeSource",
        "V1ResourceRequirements",
        "V1Toleration",
        "V1Volume",
        "V1VolumeMount",
    }
)
ALLOWED_CALLS = frozenset(
    {
        "BashOperator",
        "BashOperator.partial",
        "DAG",
        "EmptyOperator",
        "KubernetesPodOperator",
        "KubernetesPodOperator.partial",
        "Param",
        "Secret",
        "ShortCircuitOperator",
        "TriggerDagRunOperator",
        "datetime.timedelta",
        "timezone.datetime",
        *(f"k8s.{name}" for name in K8S_MODELS),
    }
)
"""Callables a generated file may call (``X.partial(...)`` may be followed by ``.expand(...)``)."""

ALLOWED_ATTRIBUTES = frozenset({"json.loads", "operator.truth", "timezone.utc"})
"""Attribute values a generated file may use besides the callables (and ``<task>.output``)."""


class UnsafeCodeError(ValueError):
    """Generated code that leaves the allow-list; ``violations`` say where and what."""

    def __init__(self, violations: list[str]):
        self.violations = violations
        shown = "\n  ".join(violations[:20])
        more = f"\n  ... and {len(violations) - 20} more" if len(violations) > 20 else ""
        super().__init__(f"generated code failed the allow-list check:\n  {shown}{more}")


def check_source(source: str) -> ast.Module:
    """Parse ``source`` and check it against the allow-list; the tree, or UnsafeCodeError."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise UnsafeCodeError([f"line {exc.lineno}: syntax error: {exc.msg}"]) from None
    violations = _Checker().module(tree)
    if violations:
        raise UnsafeCodeError(violations)
    return tree


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


class _Checker:
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.tasks: set[str] = set()
        self.dicts: set[str] = set()  # top-level names bound to a dict literal: the only ones ``**`` may unpack
        self.strings: set[str] = set()  # top-level names bound to a string: the only ones ``+`` may join
        self.violations: list[str] = []  # in the order of the file (appended as the walk finds them)

    def bind(self, name: str, kind: set[str] | None = None) -> None:
        """Record a binding of ``name``; a later binding of the same name replaces what it was."""
        self.names.add(name)
        self.dicts.discard(name)
        self.strings.discard(name)
        if kind is not None:
            kind.add(name)

    def bad(self, node: ast.AST, what: str) -> None:
        self.violations.append(f"line {getattr(node, 'lineno', '?')}: {what}")

    def module(self, tree: ast.Module) -> list[str]:
        """Every violation in ``tree``, in the order of the file."""
        for index, stmt in enumerate(tree.body):
            if index == 0 and isinstance(stmt, ast.Expr) and _is_str(stmt.value):
                continue  # module docstring
            self.statement(stmt, top=True)
        return self.violations

    def statement(self, stmt: ast.stmt, *, top: bool) -> None:
        if isinstance(stmt, ast.ImportFrom) and top:
            allowed = ALLOWED_FROM_IMPORTS.get(stmt.module or "", frozenset())
            for alias in stmt.names:
                if stmt.level or alias.name not in allowed:
                    self.bad(stmt, f"import of {stmt.module}.{alias.name} is not allowed")
                self.bind(alias.asname or alias.name)
        elif isinstance(stmt, ast.Import) and top:
            for alias in stmt.names:
                if alias.name not in ALLOWED_IMPORTS or alias.asname:
                    self.bad(stmt, f"import of {alias.name} is not allowed")
                self.bind(alias.name)
        elif isinstance(stmt, ast.Assign):
            self.assign(stmt, top=top)
        elif isinstance(stmt, ast.With) and top:
            self.with_dag(stmt)
        elif isinstance(stmt, ast.Expr) and not top:
            self.dependency(stmt.value)
        elif isinstance(stmt, ast.Pass) and not top:
            return  # a DAG without tasks
        else:
            self.bad(stmt, f"{type(stmt).__name__} statements are not allowed here")

    def assign(self, stmt: ast.Assign, *, top: bool) -> None:
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            self.bad(stmt, "only single-name assignments are allowed")
            return
        name = stmt.targets[0].id
        try:
            ident(name)
        except ValueError as exc:
            self.bad(stmt, f"assignment to an unsafe name: {exc}")
        if name == LOCAL_BASH_NAME and not (isinstance(stmt.value, ast.Constant) and stmt.value.value == LOCAL_BASH):
            self.bad(stmt, f"{LOCAL_BASH_NAME} must be the launcher command, exactly")
        value = stmt.value
        if isinstance(value, ast.BinOp):
            self.concatenation(value)
        else:
            self.expr(value)
        if isinstance(value, ast.Call):
            self.bind(name, self.tasks)
        elif top and isinstance(value, ast.Dict):
            self.bind(name, self.dicts)
        elif top and (_is_str(value) or (isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add))):
            self.bind(name, self.strings)  # a string, or strings joined (checked above)
        else:
            self.bind(name)

    def concatenation(self, node: ast.expr) -> None:
        """``ARTIFACTS_RUN + "/n0/output"``: string literals and the file's own top-level string constants."""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            self.concatenation(node.left)
            self.concatenation(node.right)
        elif isinstance(node, ast.Name) and node.id in self.strings:
            return
        elif not _is_str(node):
            self.bad(node, "only string literals and the file's own string constants may be joined with +")

    def with_dag(self, stmt: ast.With) -> None:
        item = stmt.items[0] if len(stmt.items) == 1 else None
        call = item.context_expr if item else None
        if not (item and isinstance(call, ast.Call) and _dotted(call.func) == "DAG"):
            self.bad(stmt, "the only with-block allowed is 'with DAG(...) as dag'")
            return
        self.expr(call)
        if item.optional_vars is not None:
            if not (isinstance(item.optional_vars, ast.Name) and item.optional_vars.id == "dag"):
                self.bad(stmt, "the DAG may only be bound to 'dag'")
            self.bind("dag")
        for inner in stmt.body:
            self.statement(inner, top=False)

    def dependency(self, node: ast.expr) -> None:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            self.dependency(node.left)
            self.dependency(node.right)
        elif not (isinstance(node, ast.Name) and node.id in self.tasks):
            self.bad(node, "expression statements may only chain tasks with >>")

    def expr(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant):
            if not (node.value is None or isinstance(node.value, (str, int, float, bool))):
                self.bad(node, f"{type(node.value).__name__} constants are not allowed")
        elif isinstance(node, ast.UnaryOp):
            if not (isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)):
                self.bad(node, "only negative number literals may use a unary operator")
            elif isinstance(node.operand.value, bool) or not isinstance(node.operand.value, (int, float)):
                self.bad(node, "only numbers may be negated")
        elif isinstance(node, ast.List):
            for element in node.elts:
                self.expr(element)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None and self.is_own_dict(value):
                    continue  # {**POD_DEFAULTS, ...}: a dict the file itself defined at the top
                if key is None or not _is_str(key):
                    self.bad(node, "dict keys must be string literals")
                self.expr(value)
        elif isinstance(node, ast.Name):
            if node.id not in self.names:
                self.bad(node, f"the name {node.id!r} is not defined by the file itself")
        elif isinstance(node, ast.Attribute):
            self.attribute(node)
        elif isinstance(node, ast.Subscript):
            output = node.value
            if not (
                isinstance(output, ast.Attribute)
                and output.attr == "output"
                and isinstance(output.value, ast.Name)
                and output.value.id in self.tasks
                and _is_str(node.slice)
            ):
                self.bad(node, "only <task>.output['key'] may be subscripted")
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            self.concatenation(node)  # ARTIFACTS_RUN + "/n0/output": a constant and a string
        else:
            self.bad(node, f"{type(node).__name__} expressions are not allowed")

    def attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        if dotted in ALLOWED_ATTRIBUTES and dotted.split(".")[0] in self.names:
            return
        if node.attr == "output" and isinstance(node.value, ast.Name) and node.value.id in self.tasks:
            return
        self.bad(node, f"the attribute {dotted or node.attr!r} is not allowed")

    def call(self, node: ast.Call) -> None:
        func = node.func
        dotted = _dotted(func)
        if dotted in ALLOWED_CALLS:
            if dotted.split(".")[0] not in self.names:
                self.bad(node, f"{dotted} is called but not imported")
            self.bash_command(node, dotted)
        elif (
            isinstance(func, ast.Attribute)
            and func.attr == "expand"
            and isinstance(func.value, ast.Call)
            and (_dotted(func.value.func) or "").endswith(".partial")
        ):
            self.call(func.value)
            if _dotted(func.value.func) == "BashOperator.partial" and not self.expands_commands(node):
                self.bad(node, "a mapped BashOperator may only expand bash_command=<task>.output")
        else:
            self.bad(node, f"the call {dotted or ast.unparse(func)!r} is not allowed")
        for arg in node.args:
            self.expr(arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                if not (
                    dotted in ("KubernetesPodOperator", "KubernetesPodOperator.partial")
                    and self.is_own_dict(keyword.value)
                ):
                    self.bad(node, "** arguments are not allowed (only a pod task may unpack the file's own dicts)")
            else:
                self.expr(keyword.value)

    def is_own_dict(self, value: ast.expr) -> bool:
        """``**STEPS_POD``: a name the file bound, at its top level, to a dict literal (which was checked)."""
        return isinstance(value, ast.Name) and value.id in self.dicts

    def bash_command(self, node: ast.Call, dotted: str) -> None:
        """A BashOperator runs the launcher command and nothing else (a mapped one gets it by expand)."""
        if not dotted.startswith("BashOperator"):
            return
        command = next((keyword.value for keyword in node.keywords if keyword.arg == "bash_command"), None)
        if dotted == "BashOperator.partial":
            if command is not None:
                self.bad(node, "a mapped BashOperator gets bash_command from expand only")
        elif not (isinstance(command, ast.Name) and command.id == LOCAL_BASH_NAME and command.id in self.names):
            self.bad(node, f"a BashOperator's bash_command must be {LOCAL_BASH_NAME}")

    def expands_commands(self, node: ast.Call) -> bool:
        """``.expand(bash_command=<task>.output)``: the trial commands the launcher of that task made."""
        if node.args or len(node.keywords) != 1 or node.keywords[0].arg != "bash_command":
            return False
        value = node.keywords[0].value
        return (
            isinstance(value, ast.Attribute)
            and value.attr == "output"
            and isinstance(value.value, ast.Name)
            and value.value.id in self.tasks
        )


def _is_str(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)
