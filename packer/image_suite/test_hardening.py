"""Security updates, swap, kernel settings, time sync, UTC, and a boot with nothing failed."""

SWAP_BYTES = 1024 ** 3


def test_security_updates_run_daily(image_host):
    assert image_host.package("unattended-upgrades").is_installed
    periodic = image_host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Update-Package-Lists "1";' in periodic
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert image_host.service(timer).is_enabled, timer


def test_swap_file(image_host, in_container):
    swapfile = image_host.file("/swapfile")
    assert swapfile.exists and swapfile.size == SWAP_BYTES and swapfile.mode == 0o600
    assert image_host.check_output("blkid --output value --match-tag TYPE /swapfile") == "swap"
    assert image_host.service("swapfile.swap").is_enabled
    active = image_host.check_output("swapon --show=NAME --noheadings").split()
    # A container shares its host's kernel: swapon is refused there (swapfile.swap is skipped).
    assert ("/swapfile" in active) is not in_container


def test_kernel_settings_for_a_small_host(image_host, in_container):
    assert image_host.check_output("sysctl -n net.core.somaxconn") == "1024"
    if not in_container:  # kernel-wide: never set from a container (it would change its host)
        assert image_host.check_output("sysctl -n vm.swappiness") == "10"
        assert image_host.check_output("sysctl -n vm.overcommit_memory") == "1"


def test_time_is_utc_and_synchronised(image_host, in_container):
    assert image_host.check_output("date +%Z") == "UTC"
    timesyncd = image_host.service("systemd-timesyncd")
    assert timesyncd.is_enabled
    if not in_container:  # a container takes its host's clock (timesyncd skips itself there)
        assert timesyncd.is_running


def test_boot_left_nothing_failed(image_host):
    assert image_host.check_output("systemctl --failed --no-legend --plain") == ""
