"""HTTP and WebSocket surfaces: the live call page, later the agent console."""
