"""Run last by Packer, after the image checks: never against a live host."""


from deploy.settings import settings
from deploy.tasks.image_hygiene import clean_image

if not settings().run.image_hygiene:
    raise SystemExit("cleanup.py removes host keys and identity: it runs only in an image build")

clean_image()
