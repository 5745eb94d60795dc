"""afk's Prometheus metrics: observed at the edge (the tick's HTTP client and its report),
pushed to a Pushgateway by the CLI after each armed tick. ``core`` and ``loops`` never import
this package, nor any metrics library."""
