"""`llm-exporter backfill`: the history in the logs, as Prometheus TSDB blocks.

    llm-exporter backfill [--config FILE | --log-path GLOB --format F] --output DIR
        [--from TIME] [--to TIME] [--step DURATION] [--job NAME] [--instance HOST:PORT]
        [--positions FILE] [--rules FILE]...

The configured sources' files are read with their rotated siblings (FILE.1, FILE-20240115,
FILE.2.gz, ...: compressed ones too, which live tailing leaves alone), their lines merged in the
order of their own timestamps, and fed through the live exporter's pipeline, whose clocks follow
the lines' time (so request time-to-lives and retry settling behave as they did live). Every
`--step` the store is sampled through the live exporter's collector, as a scrape would have, into
an OpenMetrics stream with timestamps and the `job` and `instance` labels the scrape adds; each
two-hour window of it becomes a TSDB block through `promtool tsdb create-blocks-from openmetrics`.

Lines without a usable timestamp are counted and reported, never placed at "now"; so are lines
dated outside a plausible window (2000 to a day from now), which neither move the samples nor end
their file. Lines over max_line_bytes are skipped as live tailing skips them (sources.lines), so a
gzip bomb costs no more memory than that; a damaged compressed file is reported, its lines before
the damage kept. Lines after
`--to` are left to the live exporter: where a positions file is written, each followed file's
offset is the byte where the first line past `--to` begins, so the exporter started on it counts
every line once across the seam. Its counters start from 0, so the backfilled series get a 0 just
after `--to`: Prometheus sees the reset it would see at any restart, even for a series that was
rare before and busy after.

With `--rules`, the recording rules' series are computed over the backfilled blocks by a temporary
Prometheus on loopback and `promtool tsdb create-blocks-from rules`, in rounds when rules read
other rules' series.

All blocks are made in a hidden directory inside `--output` and moved in once all are done: a
failure, Ctrl-C or SIGTERM (raised as `Stopped`, so that the clean-ups run) leaves the output as it
was and no temporary file behind.
"""
