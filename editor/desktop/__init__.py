"""The desktop app's native side: one instance, the File menu, dialogs, title and remembered geometry.

``launch`` (no NiceGUI: a second launch hands its file over and exits quickly), ``app_window`` (wires the
running app: control channel, menu, geometry), ``commands`` (what the menu and a second launch ask for),
``window`` (code that runs in the native window's process), ``state`` (the JSON files under
``<DAGSMITH_HOME>/desktop/``), ``instance`` (the lock and the authenticated loopback channel) and
``runenv`` ("Set up local runs": the run environment under ``<DAGSMITH_HOME>/runenv``).
"""
