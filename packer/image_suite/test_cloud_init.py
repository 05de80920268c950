"""cloud-init boots every host, as on Debian's EC2 images: admin is the user it gives the login
to, NoCloud then EC2 are where it looks, and when it runs it makes the host keys sshd serves."""

import json
import shlex

from .conftest import GROUP_DATA

STAGES = ("cloud-init-main.service", "cloud-init-local.service", "cloud-init-network.service",
          "cloud-config.service", "cloud-final.service")


def cloud_init_value(host, statements: str):
    """`value` as cloud-init's own code on the host computes it (its config reader, its distro)."""
    code = f"import json\nfrom cloudinit import stages, util\n{statements}\nprint(json.dumps(value))"
    return json.loads(host.check_output(f"python3 -c {shlex.quote(code)}"))


def boot_report(host) -> dict:
    return json.loads(host.run("cloud-init status --format json").stdout)


def test_installed_with_its_boot_stages_enabled(image_host):
    assert image_host.package("cloud-init").is_installed
    for unit in STAGES:
        assert image_host.service(unit).is_enabled, unit


def test_the_user_it_gives_the_login_to_is_admin(image_host):
    user = cloud_init_value(image_host, "init = stages.Init()\ninit.read_cfg()\n"
                                        "value = init.distro.get_default_user()")
    assert user["name"] == GROUP_DATA["admin_user"]
    assert "sudo" in user["groups"] and user["lock_passwd"] is True


def test_it_looks_for_nocloud_then_ec2(image_host):
    # The system config as cloud-init merges it; ds-identify narrows it for each boot.
    merged = cloud_init_value(image_host, "value = util.read_conf_with_confd('/etc/cloud/cloud.cfg')")
    assert merged["datasource_list"] == ["NoCloud", "Ec2"]


def test_this_boot_went_through_it_or_found_no_datasource(image_host):
    report = boot_report(image_host)
    if report["status"] == "disabled":  # a candidate booted without a seed
        assert report["boot_status_code"] == "disabled-by-generator"
    else:
        assert (report["status"], report["errors"]) == ("done", [])


def test_host_keys_have_one_maker_and_sshd_waits_for_it(image_host):
    # cloud-init made the keys when it ran; onehost-ssh-hostkeys.service only when it did not.
    made_by_fallback = image_host.check_output(
        "systemctl show --property ConditionResult --value onehost-ssh-hostkeys.service")
    assert made_by_fallback == ("yes" if boot_report(image_host)["status"] == "disabled" else "no")
    after = image_host.check_output("systemctl show --property After --value ssh.service").split()
    assert {"cloud-init-network.service", "onehost-ssh-hostkeys.service"} <= set(after)
