"""A stack's files compared in one round trip: the command run for real on files here."""

import hashlib
import os
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
    assert file_states.stale(texts, states, "644", private=("/s/mode",)) == ["/s/missing", "/s/content"]


def test_only_files_that_exist_with_other_content_need_a_kept_copy():
    states = {"/s/ok": file_states.wanted_state("a\n", "644"), "/s/content": file_states.wanted_state("b\n", "600")}
    assert file_states.changed_content({"/s/new": "a\n", "/s/ok": "a\n", "/s/content": "a\n"}, states) == ["/s/content"]


def test_a_mode_reads_the_way_stat_prints_it():
    assert file_states.wanted_state("", "0644").split()[1] == "644"
    assert file_states.wanted_state("", "1777").split()[1] == "1777"


def stand_in_chown(tmp_path) -> dict[str, str]:
    """PATH with a `chown` that does nothing, so the write command runs here without root."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chown").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "chown").chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}


def test_one_command_writes_every_text_exactly_with_its_mode_and_replaces_old_files(tmp_path):
    old = tmp_path / "stack.env"
    old.write_text("OLD=1\n")
    texts = {str(old): "NGINX_IMAGE=nginx:id-1\n", str(tmp_path / "site.conf"): "add_header X '$host';\nno newline é"}
    subprocess.run(file_states.write_texts_command(texts, "640"), check=True, env=stand_in_chown(tmp_path))
    for path, text in texts.items():
        with open(path, encoding="utf-8", newline="") as written:
            assert written.read() == text
        assert oct(os.stat(path).st_mode & 0o7777) == "0o640"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bin", "site.conf", "stack.env"]


def test_a_failed_write_stops_and_leaves_the_file_in_place(tmp_path):
    kept = tmp_path / "kept.env"
    kept.write_text("A=1\n")
    texts = {str(tmp_path / "missing-dir" / "x.env"): "X=1\n", str(kept): "A=2\n"}
    done = subprocess.run(file_states.write_texts_command(texts, "644"), env=stand_in_chown(tmp_path),
                          capture_output=True)
    assert done.returncode == 1
    assert kept.read_text() == "A=1\n"


def test_the_write_command_carries_each_text_base64_encoded():
    assert file_states.write_texts_command({"/s/a": "x\n", "/s/b": ""}, "644") == [
        "sh", "-c", file_states.WRITE_SCRIPT, "write-texts", "644", "/s/a", "eAo=", "/s/b", ""]


def test_only_texts_up_to_the_inline_limit_go_on_the_command_line():
    assert file_states.fits_inline("x" * file_states.INLINE_LIMIT)
    assert not file_states.fits_inline("é" * (file_states.INLINE_LIMIT // 2 + 1))


def test_directories_missing_or_of_another_mode_are_made_with_their_modes(tmp_path):
    ok, loose = tmp_path / "releases", tmp_path / "backups"
    ok.mkdir(mode=0o755)
    loose.mkdir()
    loose.chmod(0o755)
    wanted = {str(ok): "755", str(loose): "700", str(tmp_path / "stacks" / "sockets"): "1777",
              str(tmp_path / "static"): "755"}
    read = subprocess.run(file_states.directory_modes_command(list(wanted)), capture_output=True, text=True, check=True)
    outdated = file_states.directories_to_make(wanted, file_states.parse_directory_modes(read.stdout.splitlines()))
    assert outdated == [str(loose), str(tmp_path / "stacks" / "sockets"), str(tmp_path / "static")]
    commands = file_states.make_directories(wanted, outdated)
    assert commands == [["mkdir", "-p", *outdated], ["chmod", "700", str(loose)],
                        ["chmod", "1777", str(tmp_path / "stacks" / "sockets")],
                        ["chmod", "755", str(tmp_path / "static")]]
    for command in commands:
        subprocess.run(command, check=True)
    read = subprocess.run(file_states.directory_modes_command(list(wanted)), capture_output=True, text=True, check=True)
    assert file_states.directories_to_make(wanted, file_states.parse_directory_modes(read.stdout.splitlines())) == []


# --- a file the host holds already, copied there -------------------------------------------------

def test_a_copy_checked_by_its_sha1_gets_its_mode_and_replaces_the_old_file(tmp_path):
    source, dest = tmp_path / "old-app.env", tmp_path / "app.env"
    source.write_text("SECRET_KEY=s3cret\n")
    source.chmod(0o600)
    dest.write_text("stale\n")
    command = file_states.copy_texts_command({str(dest): (str(source), "SECRET_KEY=s3cret\n", "600")})
    subprocess.run(command, check=True, env=stand_in_chown(tmp_path))
    assert dest.read_text() == "SECRET_KEY=s3cret\n"
    assert oct(os.stat(dest).st_mode & 0o7777) == "0o600"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["app.env", "bin", "old-app.env"]


def test_a_source_that_changed_since_planning_is_not_copied_and_the_file_stays(tmp_path):
    source, dest = tmp_path / "old-app.env", tmp_path / "app.env"
    source.write_text("SECRET_KEY=changed\n")
    dest.write_text("A=1\n")
    command = file_states.copy_texts_command({str(dest): (str(source), "SECRET_KEY=s3cret\n", "600")})
    done = subprocess.run(command, env=stand_in_chown(tmp_path), capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == f"{source} changed while the deploy ran: run it again\n"
    assert dest.read_text() == "A=1\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["app.env", "bin", "old-app.env"]


def test_a_copy_is_never_readable_by_others_while_it_is_made(tmp_path):
    """umask 077 before cp: the new file is made 0600 at most, whatever the source's mode."""
    source = tmp_path / "world-readable"
    source.write_text("x\n")
    source.chmod(0o644)
    probe = tmp_path / "bin" / "chown"
    stand_in = stand_in_chown(tmp_path)
    probe.write_text('#!/bin/sh\nstat -c %a "$2" > "$(dirname "$2")/mode-while-copying"\n')
    subprocess.run(file_states.copy_texts_command({str(tmp_path / "dest"): (str(source), "x\n", "644")}),
                   check=True, env=stand_in)
    assert (tmp_path / "mode-while-copying").read_text() == "600\n"
    assert oct(os.stat(tmp_path / "dest").st_mode & 0o7777) == "0o644"


def test_only_a_source_holding_the_very_text_is_copyable():
    states = {"/r/old/app.env": file_states.wanted_state("A=1\n", "600")}
    assert file_states.copyable("A=1\n", "/r/old/app.env", states)
    assert not file_states.copyable("A=2\n", "/r/old/app.env", states)
    assert not file_states.copyable("A=1\n", "/r/missing/app.env", states)
