"""Deploy a release of the app to the hosts of the inventory, without dropping a request.

    pyinfra deploy/inventory.py deploy/deploy.py --data image=timewarp:v1 --data env_file=app.env

Everything is checked before the host is touched; the new release goes live through the
blue/green switch (deploy/tasks/switch.py), which undoes itself when the release is bad.
A re-run with the same inputs changes nothing. `--dry` prints the plan and changes nothing.
"""

from pyinfra.operations import docker

from deploy.plans.release_plan import plan_release
from deploy.settings import settings
from deploy.tasks.app_release import write_release
from deploy.tasks.backups import configure_backups
from deploy.tasks.broker import deploy_broker_stack
from deploy.tasks.certificates import issue_certificate
from deploy.tasks.data_stack import deploy_data_stack
from deploy.tasks.edge import check_health_through_edge, deploy_edge_stack
from deploy.tasks.host_layout import make_deploy_directories
from deploy.tasks.images import ship_images
from deploy.tasks.media_files import prepare_media_dir
from deploy.tasks.processes import follow_release
from deploy.tasks.prune import prune_releases
from deploy.tasks.static_files import publish_static_files
from deploy.tasks.switch import retire_single_colour_app, switch_to

plan = plan_release()

docker.network(name="Create the shared network", network=settings().deploy.network_name, present=True)
ship_images(plan)
make_deploy_directories(plan)   # after the images: an image the host cannot get leaves no release behind
started = deploy_data_stack(plan)
started += deploy_broker_stack(plan)
configure_backups()
write_release(plan)
publish_static_files(plan)
prepare_media_dir(plan)
started += deploy_edge_stack(plan)
issue_certificate(plan.tls)
switch_to(plan.switch)
follow_release(plan.switch)
retire_single_colour_app()
check_health_through_edge(started)
prune_releases(plan.switch)
