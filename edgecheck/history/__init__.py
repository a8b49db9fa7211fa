"""Performance history: every run's metrics over commits, change points, and the creep gate.

* `runs`: what a run records (`Run`, its metrics as `Point`s, `SeriesPoint`) and the JSON
  Lines export format;
* `store`: one SQLite file (WAL, ``BEGIN IMMEDIATE`` transactions, `transactions`) of runs and
  their metrics, export / import as JSON Lines; `record.record_run` appends one run (the
  plugin's entry);
* `changes`: change points of a metric's series of medians (E-Divisive means with a
  permutation test), each with its commit range, step size and p-value;
* `creep`: the creep rule: a candidate judged against the level at the last accepted change
  point, so that many small steps, each within the tolerance, add up to a failure;
* `cli`: ``edgecheck history show | changes | export | import | plot``.

Nothing is imported here: ``edgecheck --help`` must not pay for numpy or sqlite.
"""
