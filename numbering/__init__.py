"""Phone-number normalisation shared by telephony (caller ids) and crm_core
(stored numbers): a leaf package that imports nothing of ours, so both may use
it without importing each other. E.164 via the ``phonenumbers`` library,
default region CN."""

from numbering.normalize import normalize

__all__ = ["normalize"]
