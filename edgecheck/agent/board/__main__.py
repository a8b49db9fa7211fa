"""``python -m edgecheck.agent.board`` on a host; the archive's own ``__main__.py`` on a board.

The same file in both places: `edgecheck.devicerun.agent_archive` copies it to the archive's
root, where ``python3 board_agent.pyz`` runs it.
"""

import sys

from edgecheck.agent.board.cli import main

if __name__ == "__main__":
    sys.exit(main())
