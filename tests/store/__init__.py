"""The durable store (issue 13): a real ``mock-wiro serve --data-dir`` stopped (SIGTERM)
or killed (SIGKILL) and started again on the same data dir."""
