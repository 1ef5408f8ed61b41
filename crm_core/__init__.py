"""Business records: customers, phone numbers, the call log. No HTTP, no AMI."""
