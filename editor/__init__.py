"""dagsmith.editor: the command line and (in its own modules) the NiceGUI editor.

Importing this package must stay cheap: the CLI's fast commands never load NiceGUI or Airflow.
"""

from __future__ import annotations

__all__: list[str] = []
