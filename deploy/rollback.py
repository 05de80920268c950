"""Put an earlier release back, through the same health gate and switch as a deploy.

    pyinfra deploy/inventory.py deploy/rollback.py                       # to `previous`
    pyinfra deploy/inventory.py deploy/rollback.py --data release=<id>   # to a named release

Nothing is rebuilt and no migration runs; the release directory and its image are on the host.
"""

from deploy.plans.rollback_plan import plan_rollback
from deploy.tasks.processes import follow_release
from deploy.tasks.switch import switch_to

plan = plan_rollback()
switch_to(plan)
follow_release(plan)
