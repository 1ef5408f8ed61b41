"""The caller's side: FastAGI server and IVR flows (later issue)."""
