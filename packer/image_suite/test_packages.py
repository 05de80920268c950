"""The packages the bake installs (and any named with --image-expect-package)."""


def test_package_installed(image_host, expected_package):
    assert image_host.package(expected_package).is_installed, f"{expected_package} is not installed"
