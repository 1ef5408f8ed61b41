"""PBX simulator: a real AMI server over TCP that behaves like the captured Asterisk."""
