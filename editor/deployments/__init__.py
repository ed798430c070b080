"""The Airflow deployments a project names, and the pipeline being edited on each of them.

``config``: the deployments in the store (URL, API version, a reference to the credential, never the
secret); ``client``: Airflow's stable REST API v2 (Airflow 3) and v1 (Airflow 2) in one shape;
``service``: one pipeline on one deployment (deployed version, runs and node states, logs, trigger,
clear, pause); ``cli``: ``dagsmith deployments`` and ``dagsmith remote``.

Nothing is imported here, so that the command line starts fast; import the submodules.
"""
