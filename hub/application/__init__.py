"""The running hub, by job: deciding commands, publishing what was written, the
processors and their clock, and the queries screens make. Built by hub/bootstrap.py."""
