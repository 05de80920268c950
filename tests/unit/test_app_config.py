"""onehost.toml: checked when read, turned into host data, and given to every host by the inventory."""

import pytest
from pyinfra.api.exceptions import InventoryError

from onehost.local import app_config
from onehost.remote.inventory import hosts_from_environment

pytestmark = pytest.mark.unit

GOOD = '''app_name = "shop"
server_names = ["shop.example.com"]
image = "team/shop"
registry = "none"
'''


def test_shipped_images_are_named_by_the_repository_alone():
    data = app_config.host_data(app_config.parse(GOOD, "onehost.toml"), local=False)
    assert data == {"app_name": "shop", "db_name": "shop", "db_user": "shop", "image_repository": "team/shop",
                    "pull": False, "server_names": ["shop.example.com"]}


def test_a_registry_makes_the_host_pull_from_it():
    config = app_config.parse(GOOD.replace('"none"', '"127.0.0.1:5000"'), "onehost.toml")
    data = app_config.host_data(config, local=False)
    assert (data["image_repository"], data["pull"]) == ("127.0.0.1:5000/team/shop", True)


def test_the_local_instance_keeps_its_own_names():
    assert "server_names" not in app_config.host_data(app_config.parse(GOOD, "onehost.toml"), local=True)


def test_dashes_in_the_app_name_become_underscores_in_the_database():
    data = app_config.host_data(app_config.parse(GOOD.replace('"shop"', '"my-shop"', 1), "f"), local=True)
    assert (data["db_name"], data["db_user"]) == ("my_shop", "my_shop")


@pytest.mark.parametrize("text, message", [
    ("app_name = ", "is not valid TOML"),
    (GOOD + 'colour = "blue"\n', "unknown setting(s) colour"),
    (GOOD.replace('registry = "none"\n', ""), "registry missing"),
    (GOOD.replace('"shop"', '"Shop"', 1), "app_name 'Shop' must be lowercase"),
    (GOOD.replace('["shop.example.com"]', "[]"), "server_names must be a list of domain names"),
    (GOOD.replace('"team/shop"', '"shop:v1"'), "image 'shop:v1' must be a repository name without a tag"),
    (GOOD.replace('"none"', '"https://registry"'), "registry 'https://registry' must be"),
])
def test_bad_settings_are_named_with_the_fix(text, message):
    with pytest.raises(app_config.AppConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        app_config.parse(text, "onehost.toml")


def test_the_image_is_the_one_given_or_the_repository_with_the_tag():
    assert app_config.image_for({"image": "other:v9", "tag": "v1", "image_repository": "shop"}) == "other:v9"
    assert app_config.image_for({"tag": "v1", "image_repository": "shop"}) == "shop:v1"
    assert app_config.image_for({"tag": "v1"}) is None


def test_the_inventory_gives_every_host_the_files_settings(tmp_path):
    (tmp_path / "onehost.toml").write_text(GOOD)
    hosts = hosts_from_environment({"ONEHOST_HOSTS": "admin@203.0.113.10,admin@203.0.113.11",
                                    "ONEHOST_APP_CONFIG": str(tmp_path / "onehost.toml")})
    assert [(name, data["image_repository"], data["server_names"]) for name, data in hosts] == [
        ("203.0.113.10", "team/shop", ["shop.example.com"]), ("203.0.113.11", "team/shop", ["shop.example.com"])]


def test_a_missing_file_is_an_inventory_error_naming_it(tmp_path):
    with pytest.raises(InventoryError, match="ONEHOST_APP_CONFIG=.*nope.toml: no such file"):
        hosts_from_environment({"ONEHOST_HOSTS": "admin@203.0.113.10",
                                "ONEHOST_APP_CONFIG": str(tmp_path / "nope.toml")})
