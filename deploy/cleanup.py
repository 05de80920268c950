"""Run last by Packer, after the image checks: never against a live host."""

from pyinfra import host

from deploy.tasks.image_hygiene import clean_image

if not host.data.get("image_hygiene"):
    raise SystemExit("cleanup.py removes host keys and identity: it runs only in an image build")

clean_image()
