"""Deploy a release of the app to the hosts of the inventory.

    pyinfra deploy/inventory.py deploy/deploy.py --data image=timewarp:v1 --data env_file=app.env

Everything is checked before the host is touched; a re-run with the same inputs changes nothing.
"""

from pyinfra import host
from pyinfra.operations import docker

from deploy.tasks.app_release import deploy_app_release, point_links
from deploy.tasks.data_stack import deploy_data_stack
from deploy.tasks.edge import check_health_through_edge, deploy_edge_stack
from deploy.tasks.images import ship_images
from deploy.tasks.release_plan import plan_release

plan = plan_release()

docker.network(name="Create the shared network", network=host.data.network_name, present=True)
ship_images(plan)
started = deploy_data_stack(plan)
started += deploy_app_release(plan)
started += deploy_edge_stack(plan)
check_health_through_edge(started)
point_links(plan)
