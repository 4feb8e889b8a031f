"""What the office loads onto the unit: one schema per record kind (``schema``) and the
FSE range rule (``ranges``), used alike by ``tla load`` (host_tools/load_files.py), the
unit's load group (firmware/office_link/group_load.py) and the unit's reader
(firmware/unit/documents.py). docs/protocol.md §8 documents the kinds."""
