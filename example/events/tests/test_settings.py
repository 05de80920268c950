import importlib
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase
from timewarp.settings import env

PROD_ENV = {
    "SECRET_KEY": "s3cret",
    "ALLOWED_HOSTS": "api.example.com, www.example.com",
    "DATABASE_URL": "postgres://timewarp:pw@db:5432/timewarp",
}


def load_prod(environ):
    """Import timewarp.settings.prod afresh with exactly `environ` as the environment."""
    for name in ("timewarp.settings.prod", "timewarp.settings.base"):
        sys.modules.pop(name, None)
    try:
        with mock.patch.dict(os.environ, environ, clear=True):
            return importlib.import_module("timewarp.settings.prod")
    finally:
        sys.modules.pop("timewarp.settings.prod", None)


class ProdSettingsTests(SimpleTestCase):
    def test_reads_everything_from_the_environment(self):
        prod = load_prod({**PROD_ENV, "DEBUG": "no", "APP_VERSION": "v7", "CSRF_TRUSTED_ORIGINS": "https://api.example.com"})
        self.assertEqual(prod.SECRET_KEY, "s3cret")
        self.assertFalse(prod.DEBUG)
        self.assertEqual(prod.ALLOWED_HOSTS, ["api.example.com", "www.example.com"])
        self.assertEqual(prod.CSRF_TRUSTED_ORIGINS, ["https://api.example.com"])
        self.assertEqual(prod.APP_VERSION, "v7")
        self.assertEqual(prod.DATABASES["default"]["HOST"], "db")

    def test_uploads_go_to_the_mounted_media_directory_unless_the_environment_says_otherwise(self):
        prod = load_prod(PROD_ENV)
        self.assertEqual((prod.MEDIA_ROOT, prod.MEDIA_URL), ("/app/media", "/media/"))
        prod = load_prod({**PROD_ENV, "MEDIA_ROOT": "/srv/uploads", "MEDIA_URL": "/files/"})
        self.assertEqual((prod.MEDIA_ROOT, prod.MEDIA_URL), ("/srv/uploads", "/files/"))

    def test_missing_secret_key_says_how_to_fix_it(self):
        environ = {key: value for key, value in PROD_ENV.items() if key != "SECRET_KEY"}
        with self.assertRaisesMessage(
            ImproperlyConfigured,
            "SECRET_KEY is not set: set SECRET_KEY or SECRET_KEY_FILE in the release env file; "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
        ):
            load_prod(environ)

    def test_empty_secret_key_counts_as_missing(self):
        with self.assertRaisesMessage(ImproperlyConfigured, "SECRET_KEY is not set"):
            load_prod({**PROD_ENV, "SECRET_KEY": ""})

    def test_missing_allowed_hosts(self):
        environ = {key: value for key, value in PROD_ENV.items() if key != "ALLOWED_HOSTS"}
        with self.assertRaisesMessage(ImproperlyConfigured, "ALLOWED_HOSTS is not set: set ALLOWED_HOSTS in"):
            load_prod(environ)

    def test_missing_database(self):
        environ = {key: value for key, value in PROD_ENV.items() if key != "DATABASE_URL"}
        with self.assertRaisesMessage(ImproperlyConfigured,
                                      "DB_NAME is not set: set DB_NAME in the release env file; or set DATABASE_URL="):
            load_prod(environ)


class SecretFileTests(SimpleTestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)

    def test_value_from_file_without_trailing_newline(self):
        path = self.tmp / "secret_key"
        path.write_text("from-a-file\n")
        self.assertEqual(env.get_secret("SECRET_KEY", environ={"SECRET_KEY_FILE": str(path)}), "from-a-file")

    def test_both_set(self):
        path = self.tmp / "secret_key"
        path.write_text("x")
        with self.assertRaisesMessage(ImproperlyConfigured, "both SECRET_KEY and SECRET_KEY_FILE are set"):
            env.get_secret("SECRET_KEY", environ={"SECRET_KEY": "y", "SECRET_KEY_FILE": str(path)})

    def test_missing_file(self):
        missing = self.tmp / "nope"
        with self.assertRaisesMessage(ImproperlyConfigured, f"DB_PASSWORD_FILE is '{missing}', which cannot be read"):
            env.get_secret("DB_PASSWORD", environ={"DB_PASSWORD_FILE": str(missing)})

    def test_empty_file(self):
        path = self.tmp / "empty"
        path.write_text("")
        with self.assertRaisesMessage(ImproperlyConfigured, "which is empty"):
            env.get_secret("DB_PASSWORD", environ={"DB_PASSWORD_FILE": str(path)})

    def test_database_url_file(self):
        path = self.tmp / "database_url"
        path.write_text("postgres://u:p@db/name\n")
        config = env.database_config(environ={"DATABASE_URL_FILE": str(path)})
        self.assertEqual((config["USER"], config["PASSWORD"], config["HOST"]), ("u", "p", "db"))


class ValueParsingTests(SimpleTestCase):
    def test_booleans(self):
        for word, expected in [("true", True), ("1", True), ("YES", True),
                               ("false", False), ("0", False), ("no", False)]:
            with self.subTest(word=word):
                self.assertIs(env.get_bool("DEBUG", not expected, environ={"DEBUG": word}), expected)
        self.assertIs(env.get_bool("DEBUG", True, environ={}), True)

    def test_bad_boolean(self):
        with self.assertRaisesMessage(ImproperlyConfigured,
                                      "DEBUG is 'maybe', which is not a boolean: use true/false, 1/0 or yes/no"):
            env.get_bool("DEBUG", False, environ={"DEBUG": "maybe"})

    def test_bad_integer(self):
        with self.assertRaisesMessage(ImproperlyConfigured, "DB_PORT is 'five', which is not a whole number"):
            env.get_int("DB_PORT", 5432, environ={"DB_PORT": "five"})

    def test_list_drops_blanks(self):
        self.assertEqual(env.get_list("ALLOWED_HOSTS", environ={"ALLOWED_HOSTS": " a.example, ,b.example,"}),
                         ["a.example", "b.example"])
        self.assertEqual(env.get_list("CSRF_TRUSTED_ORIGINS", [], environ={}), [])


class DatabaseConfigTests(SimpleTestCase):
    def test_database_url(self):
        config = env.database_config(environ={"DATABASE_URL": "postgres://timewarp:p%40ss@db:6543/timewarp"})
        self.assertEqual(config["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual((config["NAME"], config["USER"], config["PASSWORD"]), ("timewarp", "timewarp", "p@ss"))
        self.assertEqual((config["HOST"], config["PORT"]), ("db", 6543))
        self.assertEqual((config["CONN_MAX_AGE"], config["CONN_HEALTH_CHECKS"]), (60, True))
        self.assertEqual(config["OPTIONS"]["connect_timeout"], 3)

    def test_db_variables(self):
        config = env.database_config(
            environ={"DB_NAME": "tw", "DB_USER": "app", "DB_PASSWORD": "pw", "DB_HOST": "postgres", "DB_PORT": "5433"}
        )
        self.assertEqual(
            {key: config[key] for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")},
            {"ENGINE": "django.db.backends.postgresql", "NAME": "tw", "USER": "app", "PASSWORD": "pw",
             "HOST": "postgres", "PORT": "5433"},
        )
        self.assertEqual((config["CONN_MAX_AGE"], config["CONN_HEALTH_CHECKS"]), (60, True))

    def test_db_variables_with_defaults(self):
        defaults = {"NAME": "timewarp", "USER": "timewarp", "PASSWORD": "timewarp", "HOST": "127.0.0.1"}
        config = env.database_config(defaults, environ={"DB_HOST": "elsewhere"})
        self.assertEqual((config["NAME"], config["HOST"], config["PORT"]), ("timewarp", "elsewhere", "5432"))

    def test_missing_db_variable_names_it(self):
        with self.assertRaisesMessage(ImproperlyConfigured,
                                      "DB_PASSWORD is not set: set DB_PASSWORD or DB_PASSWORD_FILE"):
            env.database_config(environ={"DB_NAME": "tw", "DB_USER": "app", "DB_HOST": "db"})

    def test_url_and_variables_together(self):
        with self.assertRaisesMessage(ImproperlyConfigured, "both DATABASE_URL and DB_HOST are set"):
            env.database_config(environ={"DATABASE_URL": "postgres://u:p@db/n", "DB_HOST": "db"})

    def test_bad_url(self):
        with self.assertRaisesMessage(ImproperlyConfigured, "DATABASE_URL is not a database URL"):
            env.database_config(environ={"DATABASE_URL": "nosuchdb://x/y"})
