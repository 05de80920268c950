"""A stack's files compared in one round trip: the command run for real on files here."""

import hashlib
import subprocess

from onehost.commands import file_states


def test_the_command_reports_each_existing_file_and_skips_the_missing(tmp_path):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    (tmp_path / "compose.yaml").chmod(0o640)
    command = file_states.states_command([str(tmp_path / "compose.yaml"), str(tmp_path / "missing.env")])
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    owner, group = (subprocess.run(["id", flag], capture_output=True, text=True).stdout.strip()
                    for flag in ("-un", "-gn"))
    sha1 = hashlib.sha1(b"services: {}\n").hexdigest()
    assert file_states.parse_states(output.splitlines()) == {
        str(tmp_path / "compose.yaml"): f"{sha1} 640 {owner}:{group}"}


def test_stale_names_missing_changed_and_wrong_mode_files_in_order():
    same, other = "a\n", "b\n"
    states = {"/s/ok": file_states.wanted_state(same, "644"),
              "/s/content": file_states.wanted_state(other, "644"),
              "/s/mode": file_states.wanted_state(same, "600")}
    texts = {"/s/missing": same, "/s/ok": same, "/s/content": same, "/s/mode": same}
    assert file_states.stale(texts, states, "644") == ["/s/missing", "/s/content", "/s/mode"]


def test_only_files_that_exist_with_other_content_need_a_kept_copy():
    states = {"/s/ok": file_states.wanted_state("a\n", "644"), "/s/content": file_states.wanted_state("b\n", "600")}
    assert file_states.changed_content({"/s/new": "a\n", "/s/ok": "a\n", "/s/content": "a\n"}, states) == ["/s/content"]


def test_a_mode_reads_the_way_stat_prints_it():
    assert file_states.wanted_state("", "0644").split()[1] == "644"
    assert file_states.wanted_state("", "1777").split()[1] == "1777"
