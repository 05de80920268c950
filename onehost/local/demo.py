"""`onehost demo`: bake the local image, start the instance, deploy the example, show it."""

from onehost import app_image, base_images, instance
from onehost.bake import bake_local_image
from onehost.deploys import run_deploy
from onehost.paths import REPO_ROOT
from onehost.shell import timed

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


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="bake, start the local instance and deploy the example app to it",
        description="The whole path on this machine: base images, the baked instance image, "
                    "the local instance, the example app image, and a pyinfra deploy to it. "
                    "Each step is skipped when its result is already there.")
    parser.set_defaults(func=demo)
