"""The linked panels: each one view of the session (walk, tables, entry, regions, TLB, log,
controls) and the classroom's diff and cost views."""
