"""Reading a project's requirements as pip reads them (https://pip.pypa.io/en/stable/reference/
requirements-file-format/), uv.lock and Pipfile.lock, and the list the image installs."""

import json

import pytest

from onehost.commands import requirements as reqs

pytestmark = pytest.mark.unit

DEPLOY_PINS = ["dj-database-url==3.1.2", "psycopg[binary]==3.3.9", "gunicorn==27.0.1"]
REQUIRES = {"dj-database-url==3.1.2": ["django>=4.2"],
            "psycopg==3.3.9": ['typing-extensions>=4.6; python_version < "3.13"',
                               'psycopg-binary==3.3.9; implementation_name != "pypy" and extra == "binary"'],
            "gunicorn==27.0.1": ['gevent>=24.10.1; extra == "gevent"']}


def reader(files: dict[str, str]):
    def read(name: str) -> str:
        if name not in files:
            raise FileNotFoundError(name)
        return files[name]
    return read


def plan_for(declared: reqs.Declared, python: str = "3.13") -> reqs.InstallPlan:
    return reqs.install_plan(declared, DEPLOY_PINS, REQUIRES, python)


def test_logical_lines_join_continuations_and_drop_comments_as_pip_does():
    text = ("# a comment\n"
            "Django==5.2.19  # trailing comment\n"
            "\n"
            "requests[security] >= 2.8.1, == 2.8.* ; python_version < \"3.14\" \\\n"
            "    --hash=sha256:aaa \\\n"
            "    --hash=sha256:bbb\n"
            "not#a-comment\n"
            "\\\n# a comment line ends the continuation\n"
            "six\n")
    assert reqs.logical_lines(text) == [
        (2, "Django==5.2.19"),
        (4, 'requests[security] >= 2.8.1, == 2.8.* ; python_version < "3.14"     --hash=sha256:aaa     '
            "--hash=sha256:bbb"),
        (7, "not#a-comment"),
        (10, "six"),
    ]


def test_includes_are_read_relative_to_the_file_that_names_them():
    declared = reqs.read_requirements(reader({
        "requirements.txt": "--index-url https://pypi.example.com/simple\n-r requirements/production.txt\n",
        "requirements/production.txt": "-r base.txt\n--constraint=constraints.txt\ngunicorn==23.0.0\n",
        "requirements/base.txt": "Django==5.2.19 --hash=sha256:abc\n-e .\n"
                                 "https://example.com/wheels/thing-1.0-py3-none-any.whl\n-r base.txt\n",
        "requirements/constraints.txt": "-c more/constraints.txt\nsqlparse==0.6.1\n",
        "requirements/more/constraints.txt": "asgiref==3.13.0\n",
    }), "requirements.txt")
    assert declared.files == ["requirements.txt", "requirements/production.txt", "requirements/base.txt",
                              "requirements/constraints.txt", "requirements/more/constraints.txt"]
    assert [(pin.text, pin.where, pin.hashes) for pin in declared.pins] == [
        ("Django==5.2.19", "requirements/base.txt:1", ("sha256:abc",)),
        ("gunicorn==23.0.0", "requirements/production.txt:3", ())]
    assert declared.constraints == ["requirements/constraints.txt"]
    assert [pin.text for pin in declared.constraint_pins] == ["asgiref==3.13.0", "sqlparse==0.6.1"]
    assert declared.options == ["--index-url https://pypi.example.com/simple"]
    assert declared.direct == ["https://example.com/wheels/thing-1.0-py3-none-any.whl"]
    assert declared.notes == ["left out -e . (requirements/base.txt:2): the image runs the project's code from /app "
                              "without installing it"]


@pytest.mark.parametrize("files, message", [
    ({"r.txt": "-r https://example.com/base.txt\n"},
     "r.txt:1 includes https://example.com/base.txt: the image build reads only the project's own files"),
    ({"r.txt": "-c /etc/constraints.txt\n"}, "r.txt:1 includes /etc/constraints.txt, outside the project"),
    ({"r.txt": "-r\n"}, "r.txt:1: -r names no file"),
    ({"r.txt": "--user\n"}, "r.txt:1: pip does not take --user in a requirements file"),
])
def test_what_the_build_cannot_read_is_refused_with_the_fix(files, message):
    with pytest.raises(reqs.RequirementsError, match=message.replace(".", r"\.")):
        reqs.read_requirements(reader(files), "r.txt")


def test_a_source_psycopg2_pin_becomes_the_binary_wheel_of_the_same_version():
    declared = reqs.read_requirements(reader({"r.txt": "Django==5.2.19\npsycopg2==2.9.10 ; python_version >= '3.9'\n"
                                                       "gunicorn>=22\n"}), "r.txt")
    plan = plan_for(declared)
    assert plan.lists == {"requirements-onehost.txt": [
        "Django==5.2.19", "gunicorn>=22", 'psycopg2-binary==2.9.10 ; python_version >= "3.9"',
        "dj-database-url==3.1.2"]}
    assert plan.messages == [
        "psycopg2==2.9.10 ; python_version >= '3.9' (r.txt:2) builds from source, which needs a compiler and "
        "libpq's headers the image has not: the image installs psycopg2-binary==2.9.10 ; python_version >= \"3.9\" "
        "instead (the same driver, as a wheel)",
        "added dj-database-url==3.1.2: the deploy needs it and the project does not list it",
        "gunicorn: the project's own gunicorn>=22 (r.txt:3)",
    ]


def test_psycopg2_beside_its_binary_wheel_is_left_out():
    declared = reqs.read_requirements(reader({"r.txt": "psycopg2==2.9.10\npsycopg2-binary==2.9.10\n"}), "r.txt")
    plan = plan_for(declared)
    assert plan.lists["requirements-onehost.txt"] == ["psycopg2-binary==2.9.10", "dj-database-url==3.1.2",
                                                      "gunicorn==27.0.1"]
    assert plan.messages[0] == ("left out psycopg2==2.9.10 (r.txt:1): it builds from source, and the project also "
                                "lists psycopg2-binary")


def test_pins_that_do_not_apply_to_the_images_python_are_not_checked():
    declared = reqs.read_requirements(reader({"r.txt": 'Django==4.1 ; python_version < "3.10"\n'
                                                       'Django==5.2.19 ; python_version >= "3.10"\n'}), "r.txt")
    assert plan_for(declared).lists["requirements-onehost.txt"][:2] == [
        'Django==4.1 ; python_version < "3.10"', 'Django==5.2.19 ; python_version >= "3.10"']


def test_an_unpinned_dj_database_url_that_cannot_reach_the_minimum_is_a_conflict():
    declared = reqs.read_requirements(reader({"r.txt": "dj-database-url<1\n"}), "r.txt")
    with pytest.raises(reqs.RequirementsError, match=r"r\.txt:1 pins dj-database-url<1, and the settings"):
        plan_for(declared)
    fine = reqs.read_requirements(reader({"r.txt": "dj-database-url>=0.5\n"}), "r.txt")
    assert plan_for(fine).lists["requirements-onehost.txt"][0] == "dj-database-url>=0.5"


UV_LOCK = '''version = 1
requires-python = ">=3.12"

[[package]]
name = "shop"
version = "0.1.0"
source = { editable = "." }
dependencies = [
    { name = "psycopg", extra = ["binary"] },
    { name = "colorama", marker = "sys_platform == 'win32'" },
]

[package.dev-dependencies]
dev = [{ name = "pytest" }]

[[package]]
name = "psycopg"
version = "3.3.9"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "typing-extensions", marker = "python_full_version < '3.13'" }]
sdist = { url = "https://files.example/psycopg-3.3.9.tar.gz", hash = "sha256:s1" }
wheels = [{ url = "https://files.example/psycopg-3.3.9-py3-none-any.whl", hash = "sha256:w1" }]

[package.optional-dependencies]
binary = [{ name = "psycopg-binary", marker = "implementation_name != 'pypy'" }]

[[package]]
name = "psycopg-binary"
version = "3.3.9"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.example/psycopg_binary.whl", hash = "sha256:w2" }]

[[package]]
name = "typing-extensions"
version = "4.15.0"
source = { registry = "https://mirror.example/simple" }
wheels = [{ url = "https://files.example/te.whl", hash = "sha256:w3" }]

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }
wheels = [{ url = "https://files.example/colorama.whl", hash = "sha256:w4" }]

[[package]]
name = "pytest"
version = "8.4.2"
source = { registry = "https://pypi.org/simple" }
'''


def test_uv_lock_gives_the_projects_packages_with_hashes_extras_and_markers_and_no_dev_group():
    declared = reqs.read_uv_lock(UV_LOCK)
    assert [(pin.text, pin.hashes) for pin in declared.pins] == [
        ("colorama==0.4.6 ; sys_platform == 'win32'", ("sha256:w4",)),
        ("psycopg==3.3.9", ("sha256:s1", "sha256:w1")),
        ("psycopg-binary==3.3.9 ; implementation_name != 'pypy'", ("sha256:w2",)),
        ("typing-extensions==4.15.0 ; python_full_version < '3.13'", ("sha256:w3",)),
    ]
    assert declared.options == ["--extra-index-url https://mirror.example/simple"]
    plan = plan_for(declared)
    # psycopg with its binary extra is the project's driver: nothing of psycopg is added.
    assert plan.lists["requirements-onehost-added.txt"] == ["--extra-index-url https://mirror.example/simple",
                                                            "dj-database-url==3.1.2", "gunicorn==27.0.1"]


def test_uv_lock_without_the_project_or_with_a_git_source_is_refused():
    with pytest.raises(reqs.RequirementsError, match="has no entry for the project itself"):
        reqs.read_uv_lock('version = 1\n[[package]]\nname = "a"\nversion = "1"\nsource = { registry = "x" }\n')
    lock = ('version = 1\n[[package]]\nname = "shop"\nversion = "1"\nsource = { virtual = "." }\n'
            'dependencies = [{ name = "lib" }]\n'
            '[[package]]\nname = "lib"\nversion = "1"\nsource = { git = "https://example.com/lib.git" }\n')
    with pytest.raises(reqs.RequirementsError, match="lib comes from .*not a package index"):
        reqs.read_uv_lock(lock)


def test_pipfile_lock_gives_the_default_packages_and_its_sources():
    lock = {"_meta": {"sources": [{"name": "corp", "url": "https://pypi.corp.example/simple", "verify_ssl": True},
                                  {"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": True}]},
            "default": {"django": {"hashes": ["sha256:d1", "sha256:d2"], "version": "==5.2.19"},
                        "psycopg": {"extras": ["binary", "pool"], "hashes": ["sha256:p"], "version": "==3.3.9",
                                    "markers": "python_version >= '3.10'"},
                        "shop": {"editable": True, "path": "."}},
            "develop": {"pytest": {"hashes": ["sha256:t"], "version": "==8.4.2"}}}
    declared = reqs.read_pipfile_lock(json.dumps(lock))
    assert [(pin.text, pin.hashes) for pin in declared.pins] == [
        ("django==5.2.19", ("sha256:d1", "sha256:d2")),
        ("psycopg[binary,pool]==3.3.9 ; python_version >= '3.10'", ("sha256:p",))]
    assert declared.options == ["--index-url https://pypi.corp.example/simple",
                                "--extra-index-url https://pypi.org/simple"]
    assert declared.notes == ["left out shop (Pipfile.lock, a local path): the image runs the project's code from "
                              "/app without installing it"]
    assert declared.pins[0].lines() == ["django==5.2.19 \\", "    --hash=sha256:d1 \\", "    --hash=sha256:d2"]


@pytest.mark.parametrize("pyproject, message", [
    ('[tool.poetry]\nname = "shop"\n', "has no [project] table"),
    ('[project]\nname = "shop"\ndynamic = ["dependencies"]\n', "declares its dependencies as dynamic"),
    ('[project]\nname = "shop"\ndependencies = ["Django>>5"]\n', "'Django>>5' is not a PEP 508 specifier"),
])
def test_pyproject_toml_that_names_no_dependencies_is_refused(pyproject, message):
    with pytest.raises(reqs.RequirementsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        reqs.read_pyproject(pyproject)


def test_the_lists_say_where_they_come_from_and_init_knows_its_own():
    text = reqs.render_list("requirements-onehost.txt", ["Django==5.2.19"], ["requirements.txt", "base.txt"])
    assert text == ("# What the app image installs: written by `onehost init` from requirements.txt, base.txt.\n"
                    "# `onehost build-app` writes it again when those change: edit them, not this file.\n"
                    "Django==5.2.19\n")
    assert reqs.is_written_by_init(text) and not reqs.is_written_by_init("Django==5.2.19\n")
