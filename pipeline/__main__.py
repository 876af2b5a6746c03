"""``python -m embridge``: the ``bridge`` command under the package's own name, for machines where ``bridge``
is iproute2's tool (``/usr/sbin/bridge``) or the environment's ``bin`` is not on ``PATH``."""

from embridge.stages.cli import main

main()
