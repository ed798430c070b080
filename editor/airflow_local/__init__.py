"""A real local Airflow 3 (``airflow standalone``) serving a project's pipelines: ``dagsmith airflow up``.

``project`` (which pipelines, which workspace), ``instance`` (start, find, stop), ``api`` (a REST API v2
client) and ``cli`` (the commands). Nothing is imported here, so that registering the commands stays cheap.
"""
