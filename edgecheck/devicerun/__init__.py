"""Device runners: measure the paper's claims on a real board, judge them on the host.

The host does the heavy work and the board only measures:

1. `edgecheck.devicerun.bundle.write_bundle` (``edgecheck bundle --target T OUT/``) exports
   the models at the target's opset, converts FP16, quantizes INT8 in TensorRT's form, writes
   the input blobs, copies the on-board agent and writes ``manifest.json`` (the agent's
   contract, `edgecheck.agent.board`), with the claims each workload serves.
2. On the board: ``python3 board_agent.pyz BUNDLE --out results.json`` (stdlib-only, 3.6+).
3. `edgecheck.devicerun.judge.judge_results` (``edgecheck judge results.json``) turns the
   agent's samples into claim verdicts with the registry's rules.

`edgecheck.devicerun.remote` (``edgecheck remote HOST``) does 1-3 over the system's ssh in one
command; `edgecheck.devicerun.board_items` turns 3 into pytest items
(``pytest --edgecheck-device-results results.json``). `edgecheck.cli.devicerun` holds the
commands' parsers and handlers.
"""
