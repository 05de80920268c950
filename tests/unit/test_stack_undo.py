from onehost.commands import stack_undo

FILES = ["/data/stacks/data/compose.yaml", "/data/stacks/data/stack.env", "/data/stacks/data/postgres.env"]
UP = ("docker compose --project-name data --file /data/stacks/data/compose.yaml --env-file "
      "/data/stacks/data/stack.env up --detach --wait --wait-timeout 60 --remove-orphans")
FAILED = "the new data stack did not become healthy within 60s (its last log lines are above)"


def test_the_files_in_place_are_kept_beside_with_mode_and_owner():
    assert stack_undo.keep_previous(FILES) == [
        "sh", "-c", 'for file do if [ -e "$file" ]; then cp -p "$file" "$file.previous"; fi; done',
        "keep-previous", *FILES]


def test_a_stack_that_is_not_healthy_gets_its_previous_files_back_and_is_started_again():
    assert stack_undo.up_or_undo("data", FILES[0], FILES[1], FILES, 60) == ["sh", "-c", "; ".join([
        f'if {UP}; then for file do rm -f "$file.previous"; done; exit 0; fi',
        "docker compose --project-name data --file /data/stacks/data/compose.yaml --env-file "
        "/data/stacks/data/stack.env logs --no-color --tail 30 >&2",
        f"if [ ! -e \"$1.previous\" ]; then echo '{FAILED}; there is no previous data stack to go back to' >&2; "
        "exit 1; fi",
        'for file do if [ -e "$file.previous" ]; then mv -f "$file.previous" "$file"; fi; done',
        f"if {UP}; then echo '{FAILED}. Undone: the previous compose.yaml stack.env postgres.env are back and the "
        "previous data stack is running and healthy. Fix the change (the image or its settings) and deploy "
        "again.' >&2",
        f"else echo '{FAILED}. The previous compose.yaml stack.env postgres.env are back, but the previous data "
        "stack did not become healthy either: see `docker compose --project-name data logs` on the host.' >&2; fi",
        "exit 1",
    ]), "up-or-undo", *FILES]
