"""Code that runs on the measured board itself.

`edgecheck.agent.board` is a stdlib-only package for Python 3.6+ (a Jetson TX2 on JetPack 4.6
has Python 3.6.9): it is shipped to the board as ONE file, the zipapp ``board_agent.pyz`` in
every bundle (`edgecheck.devicerun.agent_archive`), and run there with ``python3
board_agent.pyz BUNDLE --out results.json``. Nothing in this package may import the rest of
edgecheck.
"""
