"""Running a participant at its own site: a systemd unit and a container build for one server of a
topology, generated from the topology and that server's own config so the two cannot drift.

    zhongli site render --topology topology.yaml --as NAME [--out DIR]

writes, for the party agent, the zone or the audit service called NAME:

    zhongli-NAME.service   a hardened systemd unit (ProtectSystem=strict, the paths below only)
    Containerfile          a container build that installs zhongli from a local wheelhouse
    compose.yaml           how to run that image: ports, mounts, limits (podman/docker compose)

What each role may write follows the threat model (docs/THREAT_MODEL.md, docs/SITE.md):

==============  ===========================================  =====================================
role            reads (read-only mounts)                     writes
==============  ===========================================  =====================================
party agent     its config, certificates, data file, keys    its ``outputs_dir`` (scores) only
zone            its config, certificates, policy, keys       nothing: no writable volume; RAM-only
                                                             ``/dev/shm`` for semaphores
audit service   its config, certificates, keys               the folder of its log (``db``) only
==============  ===========================================  =====================================

Every path is mounted at the same path inside the container as on the host, so one config file
serves both; the container's port is the one the topology names. ``plan_for`` holds the decisions
(:class:`SitePlan`), ``render_files`` turns a plan into the files' text from the templates in
``deploy/site/templates/``. Images are not built here: base images cannot be pulled on the
machines this is tested on, so the tests check the generated files against the topology instead.
"""

from __future__ import annotations

from deploy.site.plan import Mount, SitePlan, plan_for
from deploy.site.render import add_arguments, cmd_site_render, render_files, write_site

__all__ = ["Mount", "SitePlan", "add_arguments", "cmd_site_render", "plan_for", "render_files", "write_site"]
