"""Code that runs on the measured board itself.

`board_agent.py` is a single stdlib-only file for Python 3.6+ (a Jetson TX2 on JetPack 4.6 has
Python 3.6.9): it is copied alone to the board and run there with ``python3 board_agent.py
BUNDLE --out results.json``. Nothing in this package may import the rest of edgecheck.
"""
