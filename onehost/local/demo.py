"""`onehost demo`: bake the local image, start the instance, deploy the example, show it."""

from onehost.local import app_image, base_images, instance
from onehost.local.bake import bake_local_image
from onehost.local.shell import timed
from onehost.paths import REPO_ROOT
from onehost.remote.deploys import run_deploy

DEMO_IMAGE = "timewarp:demo"


def demo(args) -> int:
    config = instance.InstanceConfig.from_environment()
    with timed("base images from Debian packages"):
        bases = base_images.ensure_all()
    with timed("instance image (Packer + pyinfra bake)"):
        bake_local_image()
    with timed(f"local instance {config.name}"):
        instance.up(config)
    with timed(f"app image {DEMO_IMAGE} from example/"):
        app_image.build(REPO_ROOT / "example", DEMO_IMAGE, base_image=bases["python"])
    with timed("deploy (pyinfra deploy/inventory.py deploy/deploy.py)"):
        run_deploy("deploy.py", {"image": DEMO_IMAGE})
    code, body = instance.health(config)
    print(f"\nTime Warp is served from {config.name}:")
    print(f"  API:     {config.url}/api/events/")
    print(f"  health:  {config.url}/health/ -> {code} {body}")
    print(f"  ssh:     ssh -F {config.ssh_config} {config.name}")
    print("  status:  .venv/bin/onehost instance status")
    return 0 if code == 200 else 1
