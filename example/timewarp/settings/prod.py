"""Production: every value comes from the release env file; required ones fail loudly.

These settings pass Django's deployment checklist with nothing left over:

    DJANGO_SETTINGS_MODULE=timewarp.settings.prod python manage.py check --deploy --fail-level WARNING

(with the release env file's variables set: SECRET_KEY, ALLOWED_HOSTS and the DB_* ones).

The app sits behind nginx, which terminates TLS; the split of the work is:

- nginx (the edge) redirects HTTP to HTTPS and sends Strict-Transport-Security. Django does
  neither, and silences exactly the two checks that ask it to (SILENCED_SYSTEM_CHECKS below):
  security.W004 (SECURE_HSTS_SECONDS) and security.W008 (SECURE_SSL_REDIRECT).
  SECURE_SSL_REDIRECT must stay off: the container's HEALTHCHECK, the deploy's checks and
  anything else on the Docker network reach gunicorn over plain HTTP, with no
  X-Forwarded-Proto, and a redirect to https:// there would fail them.
- nginx sets X-Forwarded-Proto on every request it forwards (replacing whatever the
  client sent), so SECURE_PROXY_SSL_HEADER lets Django see which requests came over HTTPS.
- Django marks its cookies Secure, trusts CSRF origins only over https://, and sends the
  nosniff, X-Frame-Options and Referrer-Policy headers itself, with the values nginx uses.

Release env file variables read here (besides SECRET_KEY, ALLOWED_HOSTS and the database):
    DEBUG                 false by default; the deploy refuses a release env file that turns it on
    CSRF_TRUSTED_ORIGINS  comma-separated origins such as https://app.example.com; by default
                          https://<name> for each ALLOWED_HOSTS name (`.example.com` gives
                          https://*.example.com; `*` gives nothing). Set it when browsers post
                          from another origin (a same-origin post through another port
                          passes: nginx hands the app the Host with its port).
    MEDIA_URL, MEDIA_ROOT uploads: /media/ and /app/media by default (the host's /data/media,
                          which nginx serves at /media/)

The API itself is not affected by CSRF: DRF views are exempt from CsrfViewMiddleware and
enforce CSRF only with SessionAuthentication, which the example does not use.
"""
from .base import *  # noqa: F403
from .env import database_config, get_bool, get_list, get_secret, get_str, https_origins

SECRET_KEY = get_secret(
    "SECRET_KEY",
    hint="generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
)
DEBUG = get_bool("DEBUG", False)
ALLOWED_HOSTS = get_list(
    "ALLOWED_HOSTS", hint="the comma-separated host names the API is served under, e.g. api.example.com"
)
# Browsers reach these hosts over HTTPS (nginx redirects plain HTTP), so those are the origins to trust.
CSRF_TRUSTED_ORIGINS = get_list("CSRF_TRUSTED_ORIGINS", https_origins(ALLOWED_HOSTS))
DATABASES = {"default": database_config()}
# Uploads: the host's /data/media, mounted here in every release (compose/app.yaml) and served
# by nginx at /media/ as downloads, never as pages of the site.
MEDIA_URL = get_str("MEDIA_URL", "/media/")
MEDIA_ROOT = get_str("MEDIA_ROOT", "/app/media")

# nginx terminates TLS in front of gunicorn and sets X-Forwarded-Proto on every request
# (overwriting the client's), so request.is_secure() is true exactly for HTTPS at the edge.
# Requests that skip nginx (health probes on the Docker network) carry no such header: plain HTTP.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# Response headers from SecurityMiddleware and XFrameOptionsMiddleware (check --deploy warns
# about each: security.W006, W019, W022), spelled out so that changing one is a visible
# decision. The values match nginx's security headers, which replace these at the edge; they
# still hold for responses that do not pass through nginx.
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"

# Left to nginx, the edge; see the module docstring.
SECURE_SSL_REDIRECT = False  # must stay off: probes reach gunicorn over plain HTTP
SECURE_HSTS_SECONDS = 0  # nginx sends Strict-Transport-Security on its HTTPS responses
SILENCED_SYSTEM_CHECKS = [
    "security.W004",  # SECURE_HSTS_SECONDS unset: HSTS is set by nginx (the edge), not Django.
    "security.W008",  # SECURE_SSL_REDIRECT off: nginx redirects HTTP to HTTPS (301) at the edge.
]
