"""What offices hand in: the rates and counts (办结率, 及时率, 回访率, 满意度) with their
definitions, reproducible for any past date from the event log, and the ledgers (台账) as
XLSX. On top of every context: it only reads what the others record."""
