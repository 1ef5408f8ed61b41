"""The Asterisk side: AMI codec and connection, call tracker, domain events, PBX simulator."""
