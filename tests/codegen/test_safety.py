"""The allow-list check: generated files pass it, anything resembling injected code does not."""

from __future__ import annotations

import pytest

from dagsmith.codegen import UnsafeCodeError, check_source, render
from dagsmith.nodes import Pipeline

HEAD = """\
import datetime
import operator

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG, timezone
from kubernetes.client import models as k8s

STEP = "print(1)"
"""

DAG_OPEN = """
with DAG(dag_id="x", start_date=timezone.datetime(2026, 1, 1, tzinfo=timezone.utc)) as dag:
    a_task = KubernetesPodOperator(task_id="a", cmds=["python", "-c", STEP], retries=-1)
    b_task = ShortCircuitOperator(task_id="b", python_callable=operator.truth, op_args=[a_task.output["ok"]])
"""


def test_generated_files_pass(pipelines: dict[str, Pipeline]) -> None:
    for pipeline in pipelines.values():
        for target in ("airflow3", "airflow2"):
            check_source(render(pipeline, target=target))


def test_the_grammar_it_allows() -> None:
    check_source(HEAD + DAG_OPEN + "    a_task >> b_task\n")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("import os\n", "import of os"),
        ("from subprocess import run\n", "import of subprocess.run"),
        ("from airflow.sdk import Variable\n", "import of airflow.sdk.Variable"),
        ("import datetime as dt\n", "import of datetime"),
        ("X = eval('1')\n", "the name 'eval'|call 'eval'"),
        ("X = __import__('os')\n", "call '__import__'"),
        ("X = ''.__class__\n", "attribute"),
        ("X = f'{1}'\n", "JoinedStr"),
        ("X = (lambda: 1)\n", "Lambda"),
        ("X = [i for i in []]\n", "ListComp"),
        ("def f():\n    pass\n", "FunctionDef"),
        ("class C:\n    pass\n", "ClassDef"),
        ("X = k8s.V1Pod()\n", "k8s.V1Pod"),
        ("X = datetime.datetime.now()\n", "datetime.datetime.now"),
        ("X = {**{}}\n", "dict keys"),
        ("X = KubernetesPodOperator(**{})\n", "\\*\\* arguments"),
        ("X = b'bytes'\n", "bytes constants"),
        ("X = not True\n", "unary operator"),
        ("__builtins__ = 1\n", "unsafe name"),
        ("X = STEP.format()\n", "STEP.format"),
        ("STEP2 = STEP + eval\n", "only string literals and the file's own string constants"),
        ("X = undefined_name\n", "not defined"),
        ("exec('1')\n", "Expr statements"),
        ("if True:\n    pass\n", "If statements"),
        ("X = 1 +", "syntax error"),
    ],
)
def test_what_it_refuses(code: str, message: str) -> None:
    with pytest.raises(UnsafeCodeError, match=message):
        check_source(HEAD + code)


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ("    print(1)\n", "only chain tasks"),
        ("    a_task >> print\n", "only chain tasks"),
        ("    c_task = a_task.output['x'].resolve()\n", "not allowed"),
        ("    c_task = a_task.partial()\n", "a_task.partial"),
        ("    c_task = a_task.execute({})\n", "a_task.execute"),
        ("    c_task = a_task.output[0]\n", "subscripted"),
    ],
)
def test_what_it_refuses_in_the_dag_block(inner: str, message: str) -> None:
    with pytest.raises(UnsafeCodeError, match=message):
        check_source(HEAD + DAG_OPEN + inner)


def test_only_one_with_block_bound_to_dag() -> None:
    with pytest.raises(UnsafeCodeError, match="bound to 'dag'"):
        check_source(HEAD + DAG_OPEN.replace("as dag", "as other"))
    with pytest.raises(UnsafeCodeError, match="with-block"):
        check_source(HEAD + "with open('x') as dag:\n    pass\n")


UNPACKED = "    c_task = KubernetesPodOperator(task_id='c', **{name})\n"


@pytest.mark.parametrize(
    ("before", "name"),
    [
        ("", "timezone"),  # an imported module
        ("", "KubernetesPodOperator"),  # an imported class
        ("", "dag"),  # the DAG itself
        ("", "STEP"),  # a string constant, not a dict
        ("F = operator.truth\n", "F"),  # a name bound to an attribute
        ("N = None\n", "N"),  # a name bound to a constant that is no dict
        ("P = {'image': 'x'}\nP = operator.truth\n", "P"),  # a dict name bound again to something else
        ("P = {'image': 'x'}\nfrom airflow.sdk import DAG as P\n", "P"),  # ... or to an import
    ],
)
def test_only_the_files_own_top_level_dicts_may_be_unpacked(before: str, name: str) -> None:
    """``**NAME`` admits a name the file bound at its top level to a dict literal, and nothing else."""
    with pytest.raises(UnsafeCodeError, match="\\*\\* arguments are not allowed"):
        check_source(HEAD + before + DAG_OPEN + UNPACKED.format(name=name))
    with pytest.raises(UnsafeCodeError, match="dict keys must be string literals"):
        check_source(HEAD + before + "X = {**" + name + ", 'a': 1}\n")


def test_a_dict_bound_inside_the_dag_block_may_not_be_unpacked() -> None:
    inner = "    p_dict = {'image': 'x'}\n" + UNPACKED.format(name="p_dict")
    with pytest.raises(UnsafeCodeError, match="\\*\\* arguments are not allowed"):
        check_source(HEAD + DAG_OPEN + inner)


def test_the_files_own_dicts_may_be_unpacked() -> None:
    shared = "BASE = {'namespace': 'ml'}\nPROFILE = {**BASE, 'image': 'x'}\n"
    check_source(HEAD + shared + DAG_OPEN + UNPACKED.format(name="PROFILE"))


@pytest.mark.parametrize(
    ("before", "joined"),
    [
        ("", "timezone + 'a'"),
        ("", "operator.truth + 'a'"),
        ("D = {'a': 'b'}\n", "D + 'a'"),  # a dict constant is no string
        ("F = operator.truth\n", "F + 'a'"),
        ("N = 1\n", "N + 'a'"),
        ("S = 'x'\nS = operator.truth\n", "S + 'a'"),  # a string name bound again to something else
    ],
)
def test_only_the_files_own_string_constants_may_be_joined(before: str, joined: str) -> None:
    with pytest.raises(UnsafeCodeError, match="may be joined with \\+"):
        check_source(HEAD + before + "X = " + joined + "\n")
    with pytest.raises(UnsafeCodeError, match="may be joined with \\+"):
        check_source(HEAD + before + DAG_OPEN.replace("retries=-1", "doc=" + joined))


def test_the_files_own_string_constants_may_be_joined() -> None:
    check_source(
        HEAD + "ROOT = 'a' + '/b'\nX = ROOT + STEP + '/c'\n" + DAG_OPEN.replace("retries=-1", "doc=ROOT + '/d'")
    )
