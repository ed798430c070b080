"""Stand-in for the ``kubernetes`` package in the desktop bundle (``make package``).

The designer needs one module of the Kubernetes client: ``kubernetes/utils/quantity.py``, which
``dagsmith.nodes.checks`` loads from its source file to parse resource quantities. The bundle ships that
file beside this one and leaves the generated client out (over a thousand modules, seconds to import);
cluster access belongs to local runs, which need an installation with the ``airflow`` extra.
"""
