"""HTTP and WebSocket entrypoint: thin routes over the hub."""
